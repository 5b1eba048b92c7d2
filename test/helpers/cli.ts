import {expect} from 'chai'
import {spawn} from 'node:child_process'

import {BIN} from './fixtures.js'

export interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Spawn the built CLI as a user would; `whileRunning` may act on the live process. */
export async function cli(
  args: string[],
  options: {stdin?: Buffer; cwd?: string; env?: NodeJS.ProcessEnv; whileRunning?: (kill: (signal: NodeJS.Signals) => void) => Promise<void>} = {},
): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], {stdio: ['pipe', 'pipe', 'pipe'], cwd: options.cwd, env: options.env})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  child.stdin.end(options.stdin)
  if (options.whileRunning) await options.whileRunning((signal) => child.kill(signal))
  return {code: await exited, stdout, stderr}
}

/** stderr holds exactly one line: an error, no stack trace; the exit code is non-zero. */
export function oneErrorLine(run: Run): string {
  expect(run.code, run.stderr).to.not.equal(0)
  const lines = run.stderr.trimEnd().split('\n')
  expect(lines, run.stderr).to.have.length(1)
  expect(run.stderr).to.not.match(/\n\s+at /)
  return lines[0]
}
