/**
 * What a run folder holds, as a new run sees it: read by `train` before it
 * writes, and by the web app before it answers a run name.
 */
import {readdir} from 'node:fs/promises'

import {ARTIFACT_FILES} from '../artifacts/schemas.js'
import {UserError, errorMessage} from '../errors.js'
import {CONFIG_FILE} from './config.js'

/** The files a run writes; --force replaces exactly these, so no stale artifact of an old run sits beside the new one. */
export const RUN_FILES = ['best.ckpt', 'last.ckpt', 'logs', CONFIG_FILE, ...Object.values(ARTIFACT_FILES)]

/** The run files in `dir` (none when it does not exist). */
export async function runFilesIn(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((name) => RUN_FILES.includes(name))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new UserError(`cannot use ${dir} as the output folder (${errorMessage(error)}); choose another --output-dir`)
  }
}

/** A run stopped before its first epoch ended (Ctrl-C, a cancel, a crash) left its settings and nothing trained: starting over there replaces nothing of value. */
export function neverTrained(present: string[]): boolean {
  return present.every((name) => name === CONFIG_FILE || name === 'logs')
}

/**
 * What a folder holds for a new run: nothing (absent or empty of run files),
 * a run that never finished an epoch (a new run starts over there), or a run.
 */
export async function runFolderState(dir: string): Promise<'empty' | 'never-trained' | 'run'> {
  const present = await runFilesIn(dir)
  if (present.length === 0) return 'empty'
  return neverTrained(present) ? 'never-trained' : 'run'
}
