import {randomBytes} from 'node:crypto'
import {closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync} from 'node:fs'
import {type FileHandle, open, readdir, rename, rm} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

import {UserError, errorMessage} from '../errors.js'
import {beforeRename, injectedWriteError} from './fault.js'

/**
 * Temporary files are hidden siblings named `.<target>.<pid>.<12 hex>.tmp`
 * (`.part` for downloads): same folder, so the final rename never crosses file
 * systems, and recognisable, so a later run can remove what a killed one left.
 */
const TEMPORARY_NAME = /^\..+\.(\d+)\.[\da-f]{12}\.(?:tmp|part)$/

export function temporaryPathFor(path: string, suffix: 'tmp' | 'part' = 'tmp'): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.${suffix}`)
}

/** Whether process `pid` of this machine still runs. */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Remove the temporary files in `folder` whose writer is gone (killed, or the
 * machine restarted), so debris never outlives the next run. Files of a process
 * still running are left to it. Returns the names removed.
 */
export async function sweepTemporaries(folder: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(folder)
  } catch {
    return []
  }

  const removed: string[] = []
  for (const name of names) {
    const match = TEMPORARY_NAME.exec(name)
    if (!match || processAlive(Number(match[1]))) continue
    await rm(join(folder, name), {force: true}).then(
      () => removed.push(name),
      () => {},
    )
  }

  return removed
}

/** Errors of the file system a user can fix, in words. */
const WRITE_PROBLEMS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exhausted',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EIO: 'an input/output error',
  EFBIG: 'the file is too large for the file system',
}

/** A write that failed for a reason the user can fix; keeps the errno code. */
export class FileWriteError extends UserError {
  readonly errno: string

  constructor(path: string, cause: NodeJS.ErrnoException) {
    const code = cause.code ?? 'EIO'
    const hint = code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG' ? 'free some space or choose another folder' : 'choose another folder'
    super(`cannot write ${path}: ${WRITE_PROBLEMS[code] ?? errorMessage(cause)} (${code}); ${hint}`, {cause, code: 'cannot-write'})
    this.name = 'FileWriteError'
    this.errno = code
  }
}

/** Turn a file-system error while writing `path` into one line naming the path, when the user can fix it. */
export function writeFailure(path: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (error instanceof UserError || !code || !(code in WRITE_PROBLEMS)) return error
  return new FileWriteError(path, error as NodeJS.ErrnoException)
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
 * it, then rename it over `path`. On failure the temporary file is removed,
 * `path` is untouched, and a full disk or a read-only folder is reported in one
 * line naming `path` ({@link FileWriteError}).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const temp = temporaryPathFor(path)
  let handle: FileHandle | undefined
  try {
    const injected = injectedWriteError(path)
    if (injected) throw injected
    handle = await open(temp, 'wx')
    await handle.writeFile(data)
    await handle.sync()
    await handle.close()
    handle = undefined
    beforeRename()
    await rename(temp, path)
  } catch (error) {
    await handle?.close().catch(() => {})
    await rm(temp, {force: true})
    throw writeFailure(path, error)
  }

  await syncFolder(dirname(path))
}

/** Synchronous `writeFileAtomic`, for exit handlers and other places that cannot await. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  const temp = temporaryPathFor(path)
  let fd: number | undefined
  try {
    const injected = injectedWriteError(path)
    if (injected) throw injected
    fd = openSync(temp, 'wx')
    const bytes = typeof data === 'string' ? Buffer.from(data) : data
    let offset = 0
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset)
    fsyncSync(fd)
    closeSync(fd)
    fd = undefined
    beforeRename()
    renameSync(temp, path)
  } catch (error) {
    if (fd !== undefined) closeSync(fd)
    rmSync(temp, {force: true})
    throw writeFailure(path, error)
  }
}
