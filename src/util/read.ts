/**
 * Reading a whole file into memory, safely: only regular files (a FIFO would
 * block forever, a device such as /dev/zero never ends), and never more than a
 * byte budget, counted while reading rather than trusted from `stat` (which
 * says 0 for /proc files and devices).
 */
import {constants} from 'node:fs'
import {type FileHandle, open} from 'node:fs/promises'

/** Why a file was not read; callers put `reason` into their own one-line message. */
export class UnreadableFile extends Error {
  constructor(
    readonly file: string,
    readonly kind: 'not-a-file' | 'too-large',
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`)
    this.name = 'UnreadableFile'
  }
}

export function formatBytes(count: number): string {
  return count >= 1024 * 1024 ? `${Number((count / 1024 / 1024).toFixed(1))} MiB` : `${count} bytes`
}

/** "(21.5 MiB, the limit is 20 MiB)"; exact byte counts when rounding would make both look the same. */
export function sizeAgainstLimit(size: number | undefined, limit: number): string {
  if (size === undefined) return `more than the limit of ${formatBytes(limit)}`
  const [a, b] = [formatBytes(size), formatBytes(limit)]
  if (a !== b) return `${a}, the limit is ${b}`
  return `${size.toLocaleString('en-US')} bytes, the limit is ${limit.toLocaleString('en-US')} bytes`
}

function kindOf(info: {isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean; isDirectory(): boolean}): string {
  if (info.isDirectory()) return 'a folder'
  if (info.isFIFO()) return 'a named pipe (FIFO)'
  if (info.isCharacterDevice()) return 'a character device'
  if (info.isBlockDevice()) return 'a block device'
  if (info.isSocket()) return 'a socket'
  return 'not a regular file'
}

/**
 * The bytes of `file`, if it is a regular file of at most `maxBytes` bytes.
 * Throws {@link UnreadableFile} for anything else; file-system errors (ENOENT,
 * EACCES…) pass through for the caller to word.
 */
export async function readFileLimited(file: string, maxBytes: number): Promise<Buffer> {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  const handle: FileHandle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK)
  try {
    const info = await handle.stat()
    if (!info.isFile()) {
      throw new UnreadableFile(file, 'not-a-file', `it is ${kindOf(info)}, not a regular file`)
    }

    if (info.size > maxBytes) throw new UnreadableFile(file, 'too-large', `too large (${sizeAgainstLimit(info.size, maxBytes)})`)
    const chunks: Buffer[] = []
    let total = 0
    // The first buffer holds the size `stat` gave and one byte more (one read where that size is true); later ones are 1 MiB.
    let size = Math.min(info.size + 1, maxBytes + 1)
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.max(1, Math.min(size, maxBytes + 1 - total)))
      size = 1 << 20
      let filled = 0
      while (filled < chunk.length) {
        const {bytesRead} = await handle.read(chunk, filled, chunk.length - filled, null)
        if (bytesRead === 0) break
        filled += bytesRead
      }

      total += filled
      if (total > maxBytes) throw new UnreadableFile(file, 'too-large', `too large (${sizeAgainstLimit(undefined, maxBytes)})`)
      if (filled > 0) chunks.push(chunk.subarray(0, filled))
      if (filled < chunk.length) break
    }

    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total)
  } finally {
    await handle.close()
  }
}
