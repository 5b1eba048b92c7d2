/**
 * Image bytes → a grayscale image: PNG, JPEG, BMP, GIF, TIFF, with EXIF
 * orientation applied and the size checked from the header before decoding.
 *
 * Only the decoder an image needs is loaded, on first use: the whole of `jimp`
 * takes about a third of a second to import, one of its format packages a few
 * tens of milliseconds, and predict must start fast.
 */
import {UserError, errorMessage} from '../errors.js'

/**
 * Refuse images beyond these before decoding: a 20000×20000 PNG would need
 * gigabytes. The structure is bounded too, so that no file makes a decoder
 * loop or work without end: the pages of a TIFF, the scans of a JPEG (and the
 * passes they make over its pixels, in frames), the values of a TIFF tag.
 */
export const IMAGE_LIMITS = {
  maxPixels: 40_000_000,
  maxSide: 10_000,
  maxTiffPages: 1000,
  maxJpegScans: 500,
  maxJpegPasses: 32,
  /** Bits a pixel a TIFF may store (four channels of 32 bits). */
  maxTiffBitsPerPixel: 128,
} as const

export type ImageFormat = 'png' | 'jpeg' | 'bmp' | 'gif' | 'tiff'

export interface GrayImage {
  width: number
  height: number
  /** Row-major luminance in [0, 1]: 0 black, 1 white (whatever the ink's colour). */
  data: Float32Array
}

interface Bitmap {
  width: number
  height: number
  /** RGBA, 4 bytes a pixel. */
  data: Uint8Array
}

interface Header {
  format: ImageFormat
  width: number
  height: number
  /** Pixels of every frame the decoder will build (a GIF's screen and first frame). */
  pixels: number
  /** EXIF orientation, 1 (as stored) to 8. */
  orientation: number
}

/** The header is malformed (reported as corrupt). */
class HeaderError extends Error {}
/** The header claims more pixels than {@link IMAGE_LIMITS} allow. */
class SizeError extends Error {}
/** The structure asks for more work than {@link IMAGE_LIMITS} allow: pages, scans, bits. */
class LimitError extends Error {}

const FORMAT_NAMES: Record<ImageFormat, string> = {png: 'PNG', jpeg: 'JPEG', bmp: 'BMP', gif: 'GIF', tiff: 'TIFF'}

export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  const starts = (...signature: number[]) => signature.every((byte, i) => bytes[i] === byte)
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png'
  if (starts(0xff, 0xd8, 0xff)) return 'jpeg'
  if (starts(0x47, 0x49, 0x46, 0x38) && (bytes[4] === 0x37 || bytes[4] === 0x39) && bytes[5] === 0x61) return 'gif'
  if (starts(0x42, 0x4d)) return 'bmp'
  if (starts(0x49, 0x49, 0x2a, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2a)) return 'tiff'
  return undefined
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** Reads past the end of the data throw a RangeError; the header readers turn it into "truncated". */
function readHeader(bytes: Uint8Array, format: ImageFormat): Header {
  const data = view(bytes)
  switch (format) {
    case 'png': {
      return readPngHeader(bytes, data)
    }

    case 'gif': {
      return readGifHeader(bytes, data)
    }

    case 'bmp': {
      return readBmpHeader(bytes, data)
    }

    case 'jpeg': {
      return readJpegHeader(bytes, data)
    }

    case 'tiff': {
      return readTiffHeader(data)
    }
  }
}

/**
 * Uncompressed rows must all be in the file: the decoder allocates the whole
 * bitmap from the header's size before reading a row, so a 154-byte file
 * claiming 9999×4000 pixels would cost 160 MB to find out it is cut short.
 */
function readBmpHeader(bytes: Uint8Array, data: DataView): Header {
  const dibSize = data.getUint32(14, true)
  const core = dibSize === 12
  const width = core ? data.getUint16(18, true) : data.getInt32(18, true)
  // Negative height means rows stored top-down.
  const height = Math.abs(core ? data.getUint16(20, true) : data.getInt32(22, true))
  const bitsPerPixel = data.getUint16(core ? 24 : 28, true)
  const compression = core ? 0 : data.getUint32(30, true)
  // 0 plain, 3 and 6 bit fields: one row after another. RLE (1, 2) may be shorter than its pixels.
  if ((compression === 0 || compression === 3 || compression === 6) && width > 0 && height > 0) {
    checkSize(width, height)
    const rowBytes = Math.ceil((width * bitsPerPixel) / 32) * 4
    const needed = rowBytes * (height - 1) + Math.ceil((width * bitsPerPixel) / 8)
    const present = bytes.length - data.getUint32(10, true)
    if (present < needed) throw new HeaderError(`its ${width}×${height} pixels need ${count(needed)} bytes, the file holds ${count(Math.max(0, present))}`)
  }

  return {format: 'bmp', width, height, pixels: width * height, orientation: 1}
}

/**
 * Deflate cannot shrink data more than about 1032 to 1: pixel data shorter
 * than that for the header's size is cut short, and is refused before the
 * decoder allocates for it (small images are left to the decoder to judge).
 */
function readPngHeader(bytes: Uint8Array, data: DataView): Header {
  if (data.getUint32(12) !== 0x49_48_44_52) throw new HeaderError('no IHDR chunk')
  const width = data.getUint32(16)
  const height = data.getUint32(20)
  const depth = bytes[24]
  const channels = ({0: 1, 2: 3, 3: 1, 4: 2, 6: 4} as Record<number, number>)[bytes[25]]
  if (channels === undefined) throw new HeaderError(`unknown colour type ${bytes[25]}`)
  checkSize(width, height)
  let compressed = 0
  for (let offset = 8; offset + 8 <= bytes.length;) {
    const length = data.getUint32(offset)
    if (data.getUint32(offset + 4) === 0x49_44_41_54) compressed += Math.min(length, bytes.length - offset - 8)
    offset += 12 + length
  }

  const raw = height * Math.ceil((width * channels * depth) / 8)
  if (raw > 1032 * compressed + 1_048_576) throw new HeaderError(`its ${width}×${height} pixels cannot come from ${count(compressed)} bytes of compressed data`)
  return {format: 'png', width, height, pixels: width * height, orientation: 1}
}

/** The logical screen and the first frame (the one decoded): a frame may claim more than the screen. */
function readGifHeader(bytes: Uint8Array, data: DataView): Header {
  const width = data.getUint16(6, true)
  const height = data.getUint16(8, true)
  const flags = bytes[10]
  let offset = 13 + (flags & 0x80 ? 3 * 2 ** ((flags & 0x07) + 1) : 0)
  const skipSubBlocks = () => {
    for (let size = data.getUint8(offset++); size !== 0; size = data.getUint8(offset++)) offset += size
  }

  for (;;) {
    const block = data.getUint8(offset++)
    if (block === 0x21) {
      offset++ // extension label
      skipSubBlocks()
    } else if (block === 0x2c) {
      const frameWidth = data.getUint16(offset + 4, true)
      const frameHeight = data.getUint16(offset + 6, true)
      checkSize(frameWidth, frameHeight)
      return {format: 'gif', width, height, pixels: width * height + frameWidth * frameHeight, orientation: 1}
    } else {
      throw new HeaderError('no image frame')
    }
  }
}

/** Size from the first start-of-frame marker; orientation from an EXIF block before it. */
function readJpegHeader(bytes: Uint8Array, data: DataView): Header {
  let orientation = 1
  let offset = 2
  for (;;) {
    if (data.getUint8(offset) !== 0xff) throw new HeaderError('bad marker')
    const marker = data.getUint8(offset + 1)
    if (marker === 0xff) {
      offset++ // fill byte
      continue
    }

    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      offset += 2 // markers without a length
      continue
    }

    if (marker === 0xd9 || marker === 0xda) throw new HeaderError('no frame header before the image data')
    const length = data.getUint16(offset + 2)
    const isExif = marker === 0xe1 && String.fromCharCode(...bytes.subarray(offset + 4, offset + 10)) === 'Exif\0\0'
    const exifStart = offset + 10
    const exifEnd = Math.min(offset + 2 + length, bytes.length)
    if (isExif && exifStart < exifEnd) {
      orientation = exifOrientation(new DataView(bytes.buffer, bytes.byteOffset + exifStart, exifEnd - exifStart))
    }

    // SOF0..SOF15 except DHT (c4), JPG (c8) and DAC (cc).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = data.getUint16(offset + 5)
      const width = data.getUint16(offset + 7)
      checkSize(width, height)
      checkJpegScans(bytes, data, offset, width, height)
      return {format: 'jpeg', width, height, pixels: width * height, orientation}
    }

    offset += 2 + length
  }
}

/**
 * Each scan is one pass of the decoder over the blocks of its components, and
 * a progressive file may hold any number of them: 160,000 scans of 30 bytes
 * each make a 5 MB file that takes a decoder most of an hour. Real encoders
 * write about ten; the scans are counted, and the blocks they visit weighed
 * against the frame's, before anything is decoded.
 */
function checkJpegScans(bytes: Uint8Array, data: DataView, frame: number, width: number, height: number): void {
  const {maxJpegScans, maxJpegPasses} = IMAGE_LIMITS
  // Components of the frame: id → blocks (after subsampling).
  const count = data.getUint8(frame + 9)
  const sampling: {id: number; h: number; v: number}[] = []
  for (let i = 0; i < count; i++) {
    const at = frame + 10 + 3 * i
    sampling.push({id: data.getUint8(at), h: data.getUint8(at + 1) >> 4, v: data.getUint8(at + 1) & 0x0f})
  }

  const maxH = Math.max(1, ...sampling.map((c) => c.h))
  const maxV = Math.max(1, ...sampling.map((c) => c.v))
  const blocks = new Map<number, number>()
  for (const {id, h, v} of sampling) {
    blocks.set(id, Math.ceil(Math.ceil((width * h) / maxH) / 8) * Math.ceil(Math.ceil((height * v) / maxV) / 8))
  }

  const frameBlocks = [...blocks.values()].reduce((sum, n) => sum + n, 0)
  let scans = 0
  let visited = 0
  let offset = frame + 2 + data.getUint16(frame + 2)
  while (offset + 1 < bytes.length) {
    if (bytes[offset] !== 0xff) {
      offset++ // entropy-coded data between markers
      continue
    }

    const marker = bytes[offset + 1]
    if (marker === 0xd9) break
    if (marker === 0x00 || marker === 0xff || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      offset += marker === 0xff ? 1 : 2 // stuffed byte, fill byte, restart marker
      continue
    }

    if (offset + 3 >= bytes.length) break
    if (marker === 0xda) {
      scans++
      const selectors = data.getUint8(offset + 4)
      for (let i = 0; i < selectors; i++) visited += blocks.get(data.getUint8(offset + 5 + 2 * i)) ?? 0
      if (scans > maxJpegScans) throw new LimitError(`more than ${maxJpegScans} scans`)
      if (visited > maxJpegPasses * frameBlocks + 1_000_000) throw new LimitError(`scans that make more than ${maxJpegPasses} passes over its pixels`)
    }

    offset += 2 + data.getUint16(offset + 2)
  }
}

/** The value of a SHORT or LONG tag in one TIFF image file directory, or undefined. */
function tiffTag(data: DataView, ifd: number, littleEndian: boolean, tag: number): number | undefined {
  const entries = data.getUint16(ifd, littleEndian)
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + 12 * i
    if (data.getUint16(entry, littleEndian) !== tag) continue
    const type = data.getUint16(entry + 2, littleEndian)
    if (type === 3) return data.getUint16(entry + 8, littleEndian)
    if (type === 4) return data.getUint32(entry + 8, littleEndian)
    return undefined
  }

  return undefined
}

function tiffByteOrder(data: DataView): boolean {
  const order = data.getUint16(0)
  if (order !== 0x49_49 && order !== 0x4d_4d) throw new HeaderError('bad byte order')
  return order === 0x49_49
}

function exifOrientation(tiff: DataView): number {
  try {
    const littleEndian = tiffByteOrder(tiff)
    const value = tiffTag(tiff, tiff.getUint32(4, littleEndian), littleEndian, 0x01_12)
    return value !== undefined && value >= 1 && value <= 8 ? value : 1
  } catch {
    // A broken EXIF block is common and harmless: show the image as stored.
    return 1
  }
}

/** Bytes of one value of each TIFF field type (1 BYTE … 13 IFD); 0 for types no reader knows. */
const TIFF_TYPE_BYTES = [0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8, 4]

/** Tags whose values point at further directories (sub-images, EXIF, GPS, maker notes, vendor blocks). */
const TIFF_NESTED_TAGS = new Set([330, 34_665, 34_853, 37_500, 50_740, 61_440])

interface TiffEntry {
  tag: number
  type: number
  count: number
  /** Where the values are: inside the entry when they fit in 4 bytes, else at the offset it holds. */
  values: number
}

/** The entries of the directory at `ifd`, each checked to lie inside the file, values included. */
function tiffEntries(data: DataView, ifd: number, littleEndian: boolean): TiffEntry[] {
  const entryCount = data.getUint16(ifd, littleEndian)
  if (ifd + 2 + 12 * entryCount + 4 > data.byteLength) throw new RangeError('directory cut short')
  const entries: TiffEntry[] = []
  let outOfLine = 0
  for (let i = 0; i < entryCount; i++) {
    const at = ifd + 2 + 12 * i
    const tag = data.getUint16(at, littleEndian)
    const type = data.getUint16(at + 2, littleEndian)
    const valueCount = data.getUint32(at + 4, littleEndian)
    const bytes = valueCount * (TIFF_TYPE_BYTES[type] ?? 0)
    let values = at + 8
    if (bytes > 4) {
      values = data.getUint32(at + 8, littleEndian)
      // A reader builds an array of `count` values: 2^30 of them in a 50-byte file cost gigabytes.
      if (values + bytes > data.byteLength) throw new HeaderError(`tag ${tag} claims ${count(valueCount)} values, more than the file holds`)
      outOfLine += bytes
    }

    entries.push({tag, type, count: valueCount, values})
  }

  // Distinct values never add up to more than the file; repeated pointers to one block would multiply the work.
  if (outOfLine > data.byteLength) throw new HeaderError('its tags point at the same values over and over')
  return entries
}

/** The first value of a SHORT or LONG entry. */
function tiffNumber(data: DataView, entry: TiffEntry | undefined, littleEndian: boolean): number | undefined {
  if (entry === undefined || entry.count === 0) return undefined
  if (entry.type === 3) return data.getUint16(entry.values, littleEndian)
  if (entry.type === 4) return data.getUint32(entry.values, littleEndian)
  return undefined
}

/**
 * TIFF: only the first page is decoded (see {@link firstTiffPage}), but every
 * page is walked: pages form a linked list, and a crafted file can make it
 * loop back on itself, or run to thousands of pages.
 */
function readTiffHeader(data: DataView): Header {
  const littleEndian = tiffByteOrder(data)
  const first = data.getUint32(4, littleEndian)
  if (first === 0) throw new HeaderError('no page')
  const entries = new Map(tiffEntries(data, first, littleEndian).map((entry) => [entry.tag, entry]))
  const width = tiffNumber(data, entries.get(256), littleEndian)
  const height = tiffNumber(data, entries.get(257), littleEndian)
  if (width === undefined || height === undefined) throw new HeaderError('a page without width or height')
  checkSize(width, height)
  const bitsPerSample = tiffNumber(data, entries.get(258), littleEndian) ?? 1
  const samplesPerPixel = tiffNumber(data, entries.get(277), littleEndian) ?? 1
  if (bitsPerSample * samplesPerPixel > IMAGE_LIMITS.maxTiffBitsPerPixel) {
    throw new LimitError(`${samplesPerPixel} samples of ${bitsPerSample} bits a pixel, more than ${IMAGE_LIMITS.maxTiffBitsPerPixel} bits`)
  }

  const seen = new Set<number>()
  for (let ifd = first; ifd !== 0; ifd = data.getUint32(ifd + 2 + 12 * data.getUint16(ifd, littleEndian), littleEndian)) {
    if (seen.has(ifd)) throw new HeaderError('its list of pages loops back on itself')
    if (seen.size === IMAGE_LIMITS.maxTiffPages) throw new LimitError(`more than ${IMAGE_LIMITS.maxTiffPages} pages`)
    seen.add(ifd)
    if (ifd + 2 + 12 * data.getUint16(ifd, littleEndian) + 4 > data.byteLength) throw new RangeError('directory cut short')
  }

  return {format: 'tiff', width, height, pixels: width * height, orientation: 1}
}

/**
 * A copy of a TIFF that holds only what the decoder needs: its first page, with
 * no link to further pages and no nested directories (EXIF, GPS, sub-images,
 * maker notes), which the decoder would otherwise all parse, following any
 * loop among them. The header check has walked the first page's entries.
 */
function firstTiffPage(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes)
  const data = view(copy)
  const littleEndian = tiffByteOrder(data)
  const ifd = data.getUint32(4, littleEndian)
  const count = data.getUint16(ifd, littleEndian)
  for (let i = 0; i < count; i++) {
    const at = ifd + 2 + 12 * i
    // A private tag number no reader acts on.
    if (TIFF_NESTED_TAGS.has(data.getUint16(at, littleEndian))) data.setUint16(at, 0xff_ff, littleEndian)
  }

  data.setUint32(ifd + 2 + 12 * count, 0, littleEndian)
  return copy
}

function checkSize(width: number, height: number): void {
  const {maxSide, maxPixels} = IMAGE_LIMITS
  if (width > maxSide || height > maxSide || width * height > maxPixels) {
    throw new SizeError(`${width}×${height} pixels`)
  }
}

type Decode = (bytes: Buffer) => Bitmap

const loaders: Record<ImageFormat, () => Promise<Decode>> = {
  async png() {
    const codec = (await import('@jimp/js-png')).default()
    return (bytes) => codec.decode(bytes)
  },
  async jpeg() {
    const codec = (await import('@jimp/js-jpeg')).default()
    return (bytes) => codec.decode(bytes, {maxResolutionInMP: IMAGE_LIMITS.maxPixels / 1e6, maxMemoryUsageInMB: 1024})
  },
  async bmp() {
    const codec = (await import('@jimp/js-bmp')).default()
    return (bytes) => codec.decode(bytes)
  },
  async gif() {
    const codec = (await import('@jimp/js-gif')).default()
    return (bytes) => codec.decode(bytes)
  },
  async tiff() {
    const codec = (await import('@jimp/js-tiff')).default()
    return (bytes) => codec.decode(firstTiffPage(bytes))
  },
}

const decoders = new Map<ImageFormat, Promise<Decode>>()

function decoder(format: ImageFormat): Promise<Decode> {
  let loading = decoders.get(format)
  if (loading === undefined) {
    loading = loaders[format]()
    decoders.set(format, loading)
  }

  return loading
}

/** What an image's header says, read and checked against {@link IMAGE_LIMITS} without decoding. */
export interface ImageInfo {
  format: ImageFormat
  width: number
  height: number
  /** Pixels the decoder will build (every frame or page). */
  pixels: number
}

/** Read and check an image's header only (cheap, no decoding); throws UserError as {@link decodeImage} would. */
export function inspectImage(bytes: Buffer, name: string): ImageInfo {
  const {format, width, height, pixels} = checkedHeader(bytes, name)
  return {format, width, height, pixels}
}

/** Fewest bytes {@link inspectPrefix} judges: every signature and fixed header fits in them. */
export const PREFIX_MIN_BYTES = 64

/**
 * What the first bytes of a file (at least {@link PREFIX_MIN_BYTES}) already
 * prove, while the rest is still on its way: throws the UserError
 * {@link inspectImage} would throw on the whole file when no further byte can
 * change it (not an image, too many pixels, more scans or pages than the
 * limits); the header's size when the prefix holds it; else undefined. A
 * file cut short, or one whose pixel data looks too short, is only judged
 * once all of it is there.
 */
export function inspectPrefix(prefix: Uint8Array, name: string): ImageInfo | undefined {
  if (prefix.length < PREFIX_MIN_BYTES) return undefined
  const header = checkedHeader(Buffer.from(prefix.buffer, prefix.byteOffset, prefix.byteLength), name, {prefix: true})
  if (header === undefined) return undefined
  const {format, width, height, pixels} = header
  return {format, width, height, pixels}
}

/**
 * Decode image bytes to grayscale luminance. The size is read from the header
 * and checked before any pixel is decoded. EXIF orientation (JPEG) is applied.
 * Transparent pixels become paper: composited over white when the visible
 * content is dark, over black when it is light, so a stroke on a transparent
 * background stays visible whatever its colour.
 */
export async function decodeImage(bytes: Buffer, name: string): Promise<GrayImage> {
  const header = checkedHeader(bytes, name)
  const kind = FORMAT_NAMES[header.format]
  const decode = await decoder(header.format)
  let bitmap: Bitmap
  try {
    bitmap = decode(bytes)
  } catch (error) {
    // The decoders' own texts speak of their internals ("read requests waiting on finished stream"): say what it means.
    if (process.env.DEBUG) process.stderr.write(`${kind} decoder: ${oneLine(errorMessage(error))}\n`)
    throw new UserError(`${name}: could not decode the ${kind} image, it is corrupt or truncated (its pixel data is damaged or cut short); re-export it`)
  }

  return orient(toGray(bitmap), header.orientation)
}

function checkedHeader(bytes: Buffer, name: string): Header
function checkedHeader(bytes: Buffer, name: string, options: {prefix: true}): Header | undefined
/** With `prefix`, `bytes` are the start of the file: only what more bytes cannot change is refused, the rest is undefined. */
function checkedHeader(bytes: Buffer, name: string, {prefix = false}: {prefix?: boolean} = {}): Header | undefined {
  if (bytes.length === 0) throw new UserError(`${name}: the file is empty (0 bytes); give a PNG, JPEG, BMP, GIF or TIFF image`)
  const format = sniffFormat(bytes)
  if (format === undefined) {
    throw new UserError(`${name}: not a PNG, JPEG, BMP, GIF or TIFF image; convert it to one of these formats`)
  }

  const kind = FORMAT_NAMES[format]
  let header: Header
  try {
    header = readHeader(bytes, format)
    checkSize(header.width, header.height)
    if (header.pixels > IMAGE_LIMITS.maxPixels) throw new SizeError(`${header.pixels} pixels in all`)
  } catch (error) {
    if (error instanceof SizeError) {
      throw new UserError(
        `${name}: the ${kind} image is too large (${error.message}); the limit is ${IMAGE_LIMITS.maxSide} pixels a side and ${IMAGE_LIMITS.maxPixels / 1e6} megapixels, so shrink it first`,
      )
    }

    if (error instanceof LimitError) {
      throw new UserError(`${name}: the ${kind} image is refused: it has ${error.message}, far beyond what real images need; re-export it`)
    }

    // Cut short, or judged by how much of the file there is: the whole file decides.
    if (prefix) return undefined
    throw new UserError(`${name}: the ${kind} image is corrupt or truncated (${headerProblem(error)}); re-export it`)
  }

  if (header.width <= 0 || header.height <= 0) {
    throw new UserError(`${name}: the ${kind} image has no pixels (${header.width}×${header.height}); re-export it`)
  }

  return header
}

function headerProblem(error: unknown): string {
  return error instanceof RangeError ? 'header cut short' : oneLine(errorMessage(error))
}

function oneLine(text: string): string {
  return text.replaceAll(/\s+/g, ' ').trim()
}

/** ITU-R BT.601 luma, as PIL's `convert('L')` computes it. */
function toGray({width, height, data}: Bitmap): GrayImage {
  const count = width * height
  const gray = new Float32Array(count)
  let opaque = true
  let alphaSum = 0
  let lumaSum = 0
  for (let i = 0, p = 0; i < count; i++, p += 4) {
    const luma = (0.299 * data[p] + 0.587 * data[p + 1] + 0.114 * data[p + 2]) / 255
    gray[i] = luma
    const alpha = data[p + 3]
    if (alpha !== 255) opaque = false
    alphaSum += alpha
    lumaSum += alpha * luma
  }

  if (!opaque) {
    // Paper contrasts with what is visible; a fully transparent image is plain white paper.
    const paper = alphaSum > 0 && lumaSum / alphaSum >= 0.5 ? 0 : 1
    for (let i = 0, p = 3; i < count; i++, p += 4) {
      const alpha = data[p] / 255
      gray[i] = alpha * gray[i] + (1 - alpha) * paper
    }
  }

  return {width, height, data: gray}
}

/** Apply an EXIF orientation so the image reads as its author saw it. */
export function orient(image: GrayImage, orientation: number): GrayImage {
  const {width: w, height: h, data} = image
  // For each orientation: the source index of output pixel (x, y).
  const sources: Record<number, (x: number, y: number) => number> = {
    2: (x, y) => y * w + (w - 1 - x),
    3: (x, y) => (h - 1 - y) * w + (w - 1 - x),
    4: (x, y) => (h - 1 - y) * w + x,
    5: (x, y) => x * w + y,
    6: (x, y) => (h - 1 - x) * w + y,
    7: (x, y) => (h - 1 - x) * w + (w - 1 - y),
    8: (x, y) => x * w + (w - 1 - y),
  }
  const source = sources[orientation]
  if (source === undefined) return image
  // 5 to 8 turn the image a quarter: width and height swap.
  const outWidth = orientation >= 5 ? h : w
  const outHeight = orientation >= 5 ? w : h
  const out = new Float32Array(w * h)
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) out[y * outWidth + x] = data[source(x, y)]
  }

  return {width: outWidth, height: outHeight, data: out}
}

/** 119,999,997: counts in messages, grouped for reading. */
function count(value: number): string {
  return value.toLocaleString('en-US')
}
