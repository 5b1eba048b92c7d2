import {basename} from 'node:path'
import {constants, gunzipSync, gzipSync} from 'node:zlib'

import {UserError, errorMessage} from '../errors.js'
import {UnreadableFile, formatBytes, readFileLimited} from '../util/read.js'

/** IDX magic numbers: 0x00000803 = unsigned bytes, 3 dimensions (images); 0x00000801 = 1 dimension (labels). */
const IMAGES_MAGIC = 0x08_03
const LABELS_MAGIC = 0x08_01

export interface IdxImages {
  count: number
  rows: number
  cols: number
  /** count × rows × cols bytes, row-major, 0 = background, 255 = ink. */
  pixels: Uint8Array
}

/**
 * The largest IDX payload accepted: the MNIST training images are 47 MB
 * uncompressed. A header announcing more is refused before anything is inflated.
 */
export const MAX_IDX_BYTES = 128 * 1024 * 1024

/** The header's fields, checked against the expected kind: ndim, dims and the total bytes it announces. */
function readHeader(raw: Buffer, name: string, expectedMagic: number, kind: string): {headerBytes: number; dims: number[]; total: number} {
  if (raw.length < 8) throw new UserError(`${name} is truncated: ${raw.length} bytes is too short for an IDX header`)
  const magic = raw.readUInt32BE(0)
  if (magic !== expectedMagic) {
    throw new UserError(
      `${name} is not an IDX ${kind} file (magic 0x${magic.toString(16).padStart(8, '0')}, expected 0x${expectedMagic.toString(16).padStart(8, '0')})`,
    )
  }

  const ndim = magic & 0xff
  const headerBytes = 4 + 4 * ndim
  if (raw.length < headerBytes) throw new UserError(`${name} is truncated inside its IDX header`)
  const dims = Array.from({length: ndim}, (_, i) => raw.readUInt32BE(4 + 4 * i))
  const total = headerBytes + dims.reduce((a, b) => a * b, 1)
  if (total > MAX_IDX_BYTES) {
    throw new UserError(
      `${name} is corrupt: its header announces ${formatBytes(total)} of data, more than any MNIST file (${dims.join('×')}); delete it and run download-data again`,
    )
  }

  return {headerBytes, dims, total}
}

/**
 * Inflate a gzip'd IDX file no further than its header says: the header is
 * read from the first few kilobytes, and the whole file may not inflate to
 * more than the bytes it announces (a gzip bomb stops there, not at 4 GB).
 */
function gunzipIdx(bytes: Buffer, name: string, expectedMagic: number, kind: string): Buffer {
  const unreadable = (error: unknown) => new UserError(`${name} is not a readable gzip file (${errorMessage(error)}); delete it and run download-data again`)
  let head: Buffer
  try {
    // Inflates at most ~1000× the 4 KiB taken: enough for the header, bounded for a bomb.
    head = gunzipSync(bytes.subarray(0, 4096), {finishFlush: constants.Z_SYNC_FLUSH})
  } catch (error) {
    throw unreadable(error)
  }

  const {total} = readHeader(head, name, expectedMagic, kind)
  try {
    return gunzipSync(bytes, {maxOutputLength: total})
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new UserError(`${name} is corrupt: it inflates to more than the ${total} bytes its header promises; delete it and run download-data again`)
    }

    throw unreadable(error)
  }
}

/** Decode an IDX file (gzip'd or not); every structural problem names the file. */
function decodeIdx(bytes: Buffer, file: string, expectedMagic: number, kind: string): {dims: number[]; data: Uint8Array} {
  const name = basename(file)
  const raw = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipIdx(bytes, name, expectedMagic, kind) : bytes
  const {headerBytes, dims, total} = readHeader(raw, name, expectedMagic, kind)
  const expected = total - headerBytes
  const actual = raw.length - headerBytes
  if (actual !== expected) {
    throw new UserError(
      `${name} is ${actual < expected ? 'truncated' : 'corrupt'}: its header promises ${expected} data bytes but it holds ${actual}; delete it and run download-data again`,
    )
  }

  return {dims, data: new Uint8Array(raw.buffer, raw.byteOffset + headerBytes, expected)}
}

export function parseIdxImages(bytes: Buffer, file: string): IdxImages {
  const {dims, data} = decodeIdx(bytes, file, IMAGES_MAGIC, 'images')
  const [count, rows, cols] = dims
  return {count, rows, cols, pixels: data}
}

export function parseIdxLabels(bytes: Buffer, file: string): Uint8Array {
  const labels = decodeIdx(bytes, file, LABELS_MAGIC, 'labels').data
  // MNIST labels are digits; anything else is a damaged or foreign file, not a class to skip quietly.
  let index = -1
  for (let i = 0; i < labels.length && index === -1; i++) if (labels[i] > 9) index = i
  if (index !== -1) {
    throw new UserError(`${basename(file)} is corrupt: label ${labels[index]} at position ${index} is not a digit 0–9; delete it and run download-data again`)
  }

  return labels
}

async function readIdxFile(file: string): Promise<Buffer> {
  try {
    return await readFileLimited(file, MAX_IDX_BYTES)
  } catch (error) {
    if (error instanceof UnreadableFile) throw new UserError(`cannot read ${file}: ${error.reason}; --data-dir must hold the MNIST files themselves`)
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new UserError(`${file} not found; run \`digit-classification download-data --data-dir <dir>\` first`)
    throw new UserError(`cannot read ${file}: ${errorMessage(error)}`)
  }
}

/** Reads started ahead of their use (`prefetchIdx`), by path; each is taken once. */
const ahead = new Map<string, Promise<Buffer>>()

/**
 * Start reading `file` now, on the I/O threads, for the `readIdxPair` of it that
 * follows in this process (a training run reads its 47 MB while its modules
 * load). A failure surfaces there, worded as any read's.
 */
export function prefetchIdx(file: string): void {
  if (ahead.has(file)) return
  const read = readIdxFile(file)
  read.catch(() => {})
  ahead.set(file, read)
}

function takeIdxFile(file: string): Promise<Buffer> {
  const read = ahead.get(file)
  ahead.delete(file)
  return read ?? readIdxFile(file)
}

/** Read a pair of image and label files and check that they describe the same samples. */
export async function readIdxPair(imagesFile: string, labelsFile: string): Promise<{images: IdxImages; labels: Uint8Array}> {
  // Both reads run together; the images file's problem is reported first, whichever read fails first.
  const [imageRead, labelRead] = await Promise.allSettled([takeIdxFile(imagesFile), takeIdxFile(labelsFile)])
  if (imageRead.status === 'rejected') throw imageRead.reason
  if (labelRead.status === 'rejected') throw labelRead.reason
  const [imageBytes, labelBytes] = [imageRead.value, labelRead.value]
  const images = parseIdxImages(imageBytes, imagesFile)
  const labels = parseIdxLabels(labelBytes, labelsFile)
  if (images.count !== labels.length) {
    throw new UserError(
      `${basename(imagesFile)} holds ${images.count} images but ${basename(labelsFile)} holds ${labels.length} labels; the files do not belong together`,
    )
  }

  if (images.rows !== 28 || images.cols !== 28) {
    throw new UserError(`${basename(imagesFile)} holds ${images.rows}×${images.cols} images; MNIST images are 28×28`)
  }

  return {images, labels}
}

/** Encode images as a gzip'd IDX file (used to build fixtures and benchmark data). */
export function encodeIdxImages(pixels: Uint8Array, count: number, rows = 28, cols = 28): Buffer {
  const header = Buffer.alloc(16)
  header.writeUInt32BE(IMAGES_MAGIC, 0)
  header.writeUInt32BE(count, 4)
  header.writeUInt32BE(rows, 8)
  header.writeUInt32BE(cols, 12)
  return gzipSync(Buffer.concat([header, Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength)]), {level: 9})
}

export function encodeIdxLabels(labels: Uint8Array): Buffer {
  const header = Buffer.alloc(8)
  header.writeUInt32BE(LABELS_MAGIC, 0)
  header.writeUInt32BE(labels.length, 4)
  return gzipSync(Buffer.concat([header, Buffer.from(labels.buffer, labels.byteOffset, labels.byteLength)]), {level: 9})
}
