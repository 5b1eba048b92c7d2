/**
 * Creating the folders a command writes into. Node's `mkdir(…, {recursive: true})`
 * spins forever (and ignores signals) where a file system refuses new entries
 * with ENOENT although the parent exists, as /proc does; this walks up to the
 * nearest existing ancestor and creates each missing level once, so every
 * failure becomes one line naming the folder.
 */
import {mkdirSync, statSync} from 'node:fs'
import {mkdir, stat} from 'node:fs/promises'
import path from 'node:path'

import {UserError, errorMessage} from '../errors.js'

const REASONS: Record<string, string> = {
  ENOENT: 'the file system there does not allow new folders',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is exhausted',
  ENOTDIR: 'part of the path is a file, not a folder',
  ENAMETOOLONG: 'the path is too long',
  ELOOP: 'the path has a loop of symbolic links',
}

function failure(folder: string, error: unknown, hint: string): UserError {
  if (error instanceof UserError) return error
  const code = (error as NodeJS.ErrnoException).code
  const reason = code && code in REASONS ? `${REASONS[code]}, ${code}` : errorMessage(error)
  return new UserError(`cannot create the folder ${folder} (${reason}); ${hint}`, {cause: error})
}

function notAFolder(folder: string, hint: string): UserError {
  return new UserError(`cannot use ${folder} as a folder: it is a file; ${hint}`)
}

/** The missing levels of `folder`, outermost first; throws when an existing level is not a folder. */
function missingLevels(folder: string, exists: (p: string) => boolean | undefined, hint: string): string[] {
  const missing: string[] = []
  for (let current = folder; ; current = path.dirname(current)) {
    const isFolder = exists(current)
    if (isFolder === true) break
    if (isFolder === false) throw notAFolder(current, hint)
    missing.unshift(current)
    if (path.dirname(current) === current) break
  }

  return missing
}

/**
 * Create `folder` and its missing parents. Returns the outermost folder created
 * (undefined when it already existed), for undoing the creation. `hint` ends
 * the error line, e.g. "choose another --output-dir".
 */
export async function makeFolder(folder: string, hint: string): Promise<string | undefined> {
  const absolute = path.resolve(folder)
  // Probe levels synchronously: a handful of stats, and no await between probe and create matters here.
  const missing = missingLevels(absolute, (p) => probe(p, hint), hint)
  for (const level of missing) {
    try {
      await mkdir(level)
    } catch (error) {
      if (
        (error as NodeJS.ErrnoException).code === 'EEXIST' &&
        (await stat(level).then(
          (s) => s.isDirectory(),
          () => false,
        ))
      )
        continue
      throw failure(absolute, error, hint)
    }
  }

  return missing[0]
}

/** {@link makeFolder} for code that cannot await. */
export function makeFolderSync(folder: string, hint: string): string | undefined {
  const absolute = path.resolve(folder)
  const missing = missingLevels(absolute, (p) => probe(p, hint), hint)
  for (const level of missing) {
    try {
      mkdirSync(level)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && isFolderSync(level)) continue
      throw failure(absolute, error, hint)
    }
  }

  return missing[0]
}

function isFolderSync(p: string): boolean {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}

/** true: a folder; false: something else; undefined: nothing there. */
function probe(p: string, hint: string): boolean | undefined {
  try {
    return statSync(p).isDirectory()
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
    throw failure(p, error, hint)
  }
}
