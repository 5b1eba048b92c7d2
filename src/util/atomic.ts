import {randomBytes} from 'node:crypto'
import {closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync} from 'node:fs'
import {type FileHandle, open, rename, rm} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

/** A hidden sibling of `path`: same folder, so the final rename never crosses file systems. */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
}

/** Flush the folder entry too, so the rename itself survives a crash; not every platform allows it. */
async function syncFolder(folder: string): Promise<void> {
  let handle: FileHandle | undefined
  try {
    handle = await open(folder, 'r')
    await handle.sync()
  } catch {
    // Best effort: the file's own data is already on disk.
  } finally {
    await handle?.close().catch(() => {})
  }
}

/**
 * Write `data` to `path` so that readers see either the old file or the whole
 * new one, never half of it: write a temporary file in the same folder, fsync
 * it, then rename it over `path`. On failure the temporary file is removed and
 * `path` is untouched.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temp = tempPathFor(path)
  let handle: FileHandle | undefined
  try {
    handle = await open(temp, 'wx')
    await handle.writeFile(data)
    await handle.sync()
    await handle.close()
    handle = undefined
    await rename(temp, path)
  } catch (error) {
    await handle?.close().catch(() => {})
    await rm(temp, {force: true})
    throw error
  }

  await syncFolder(dirname(path))
}

/** Synchronous `writeFileAtomic`, for exit handlers and other places that cannot await. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  const temp = tempPathFor(path)
  let fd: number | undefined
  try {
    fd = openSync(temp, 'wx')
    const bytes = typeof data === 'string' ? Buffer.from(data) : data
    let offset = 0
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset)
    fsyncSync(fd)
    closeSync(fd)
    fd = undefined
    renameSync(temp, path)
  } catch (error) {
    if (fd !== undefined) closeSync(fd)
    rmSync(temp, {force: true})
    throw error
  }
}
