/**
 * Test hooks for the fault-injection suite (test/faults). Read from the
 * environment once; without these variables nothing here has any effect.
 *
 *   DIGIT_FAULT_KILL_AT=rename:N   SIGKILL this process just before its Nth
 *                                  atomic rename (1-based; the temporary file
 *                                  is complete, the target not yet replaced)
 *   DIGIT_FAULT_WRITE_ERROR=CODE   every atomic write fails with errno CODE
 *                                  (e.g. ENOSPC) before writing a byte
 *
 * They are documented so that nobody mistakes them for product settings.
 */
const killAt = /^rename:(\d+)$/.exec(process.env.DIGIT_FAULT_KILL_AT ?? '')
const killAtRename = killAt ? Number(killAt[1]) : 0
let renames = 0

/** Called by every atomic writer right before it renames a finished temporary file into place. */
export function beforeRename(): void {
  if (killAtRename === 0) return
  renames++
  if (renames === killAtRename) process.kill(process.pid, 'SIGKILL')
}

/** An errno error to inject into a write, or undefined. */
export function injectedWriteError(path: string): NodeJS.ErrnoException | undefined {
  const code = process.env.DIGIT_FAULT_WRITE_ERROR
  if (!code || !/^E[A-Z]+$/.test(code)) return undefined
  return Object.assign(new Error(`${code}: injected fault, write '${path}'`), {code, path, syscall: 'write'})
}
