/**
 * One writer per run folder. The writer creates `.run.lock` with O_EXCL (only
 * one process can), holding its pid, host and start time; it removes it when
 * done, and at exit whatever the way out. A lock whose process is gone (killed,
 * or the machine restarted) is stale: the next writer takes it over. A lock of
 * another machine cannot be checked, so it is reported with the way to clear it.
 */
import {randomBytes} from 'node:crypto'
import {closeSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync} from 'node:fs'
import {hostname} from 'node:os'
import {join} from 'node:path'

import {UserError, errorMessage} from '../errors.js'
import {processAlive} from './atomic.js'

export const LOCK_FILE = '.run.lock'

/** A lock file younger than this with no readable content is being written by its creator. */
const UNWRITTEN_GRACE_MS = 5000

interface LockHolder {
  pid: number
  host: string
  started_at: string
  token: string
}

/** The second writer: the CLI prints its line, the web app answers 409. */
export class RunFolderLocked extends UserError {
  constructor(
    readonly folder: string,
    readonly holder: LockHolder | undefined,
  ) {
    const who = holder ? `process ${holder.pid} on ${holder.host}, since ${holder.started_at}` : 'another process'
    const sameHost = holder === undefined || holder.host === hostname()
    const hint = sameHost
      ? 'wait for it to finish or stop it, or choose another output folder'
      : `wait for it to finish, or delete ${join(folder, LOCK_FILE)} if that process is gone, or choose another output folder`
    super(`${folder} is in use by another training run (${who}); ${hint}`)
    this.name = 'RunFolderLocked'
  }
}

export interface RunLock {
  readonly path: string
  /** Remove the lock if it is still this writer's; further calls do nothing. */
  release(): void
}

function readHolder(path: string): {holder?: LockHolder; text?: string} {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return {}
  }

  try {
    const value = JSON.parse(text) as Partial<LockHolder>
    if (typeof value.pid === 'number' && typeof value.host === 'string' && typeof value.token === 'string') {
      return {holder: {pid: value.pid, host: value.host, started_at: String(value.started_at), token: value.token}, text}
    }
  } catch {
    // Unreadable: decided below by its age.
  }

  return {text}
}

/** True when the lock at `path` (read as `text`) belongs to nobody any more. */
function stale(path: string, holder: LockHolder | undefined): boolean {
  if (holder) return holder.host === hostname() && !processAlive(holder.pid)
  try {
    return Date.now() - statSync(path).mtimeMs > UNWRITTEN_GRACE_MS
  } catch {
    return true
  }
}

/**
 * Remove a stale lock without removing a fresh one another writer created in
 * the meantime: move it aside, and put it back if it is not the one judged stale.
 */
function removeStale(path: string, judged: string | undefined): void {
  const aside = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.stale`
  try {
    renameSync(path, aside)
  } catch {
    return
  }

  let now: string | undefined
  try {
    now = readFileSync(aside, 'utf8')
  } catch {
    now = undefined
  }

  if (now !== judged) {
    try {
      linkSync(aside, path)
    } catch {
      // A third writer holds it now; the one moved aside was not stale either way.
    }
  }

  rmSync(aside, {force: true})
}

const held = new Set<RunLock>()
let exitHandler = false

/**
 * Lock `folder` (which must exist) for this process, or throw
 * {@link RunFolderLocked} naming the writer that holds it.
 */
export function lockRunFolder(folder: string): RunLock {
  const path = join(folder, LOCK_FILE)
  const token = randomBytes(9).toString('hex')
  const holder: LockHolder = {pid: process.pid, host: hostname(), started_at: new Date().toISOString(), token}
  for (let attempt = 0; ; attempt++) {
    let fd: number
    try {
      fd = openSync(path, 'wx')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new UserError(`cannot lock the run folder ${folder} (${errorMessage(error)}); choose another output folder`, {cause: error})
      }

      const current = readHolder(path)
      if (attempt < 3 && stale(path, current.holder)) {
        removeStale(path, current.text)
        continue
      }

      throw new RunFolderLocked(folder, current.holder)
    }

    try {
      writeSync(fd, `${JSON.stringify(holder)}\n`)
    } finally {
      closeSync(fd)
    }

    const lock: RunLock = {
      path,
      release() {
        if (!held.delete(lock)) return
        if (readHolder(path).holder?.token === token) rmSync(path, {force: true})
      },
    }
    held.add(lock)
    if (!exitHandler) {
      exitHandler = true
      // process.exit (a second Ctrl-C) skips every finally block; this still runs.
      process.on('exit', () => {
        for (const lock of [...held]) lock.release()
      })
    }

    return lock
  }
}
