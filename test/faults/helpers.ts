/**
 * Shared by the fault-injection suite: small real runs of the CLI, a seeded
 * random source for kill points, and the invariants every fault must keep
 * (what is on disk loads, no temporary file survives a finished run).
 */
import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {mkdtempSync, readdirSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Rng} from '../../src/data/rng.js'
import {BIN, FIXTURE_DIR} from '../helpers/fixtures.js'

/** The smallest recipe that still trains: every fault case costs one or two of these. */
export const SMALL_COUNTS = '8=70,0=24,5=12'

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `faults-${prefix}-`))
}

/** Seeded, so a failing kill point can be replayed: FAULT_SEED=… npm test. */
export function seededRandom(label: string): Rng {
  const base = Number(process.env.FAULT_SEED ?? 20261127)
  let hash = base
  for (const char of label) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) >>> 0
  return new Rng(hash)
}

export interface Spawned {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/**
 * Run the CLI; with `killAfterMs`, SIGKILL it after that long (a random point),
 * or pass `env.DIGIT_FAULT_KILL_AT=rename:N` to have it kill itself at a rename.
 */
export async function run(args: string[], options: {env?: Record<string, string>; killAfterMs?: number} = {}): Promise<Spawned> {
  const child = spawn(process.execPath, [BIN, ...args], {stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, ...options.env}})
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const timer = options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])))
  clearTimeout(timer)
  return {code, signal, stdout, stderr}
}

/** The error is one line, the last on stderr (progress and the model summary may precede it); no stack trace, non-zero exit. */
export function oneLine(result: Spawned): string {
  expect(result.code, result.stderr).to.not.equal(0)
  expect(result.signal, result.stderr).to.equal(null)
  const lines = result.stderr.trimEnd().split('\n')
  expect(
    lines.filter((line) => /^Error\b/.test(line)),
    result.stderr,
  ).to.have.length(1)
  expect(lines.at(-1)).to.match(/^Error: /)
  expect(result.stderr).to.not.match(/^\s+at |^\s*Code: /m)
  return lines.at(-1)!
}

/** Temporary files (`.name.pid.hex.tmp` / `.part`) anywhere under `dir`. */
export function temporaries(dir: string): string[] {
  const found: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) found.push(...temporaries(path))
    else if (/\.(?:tmp|part)$/.test(name)) found.push(path)
  }

  return found
}

let trained: Promise<string> | undefined

/** A finished one-epoch run on the fixtures, trained once for the whole suite; returns its folder. */
export function sharedRun(): Promise<string> {
  trained ??= (async () => {
    const dir = tempDir('shared')
    const result = await run(['train', '--data-dir', FIXTURE_DIR, '--output-dir', dir, '--epochs', '1', '--class-counts', SMALL_COUNTS, '--num-workers', '1'])
    expect(result.code, result.stderr).to.equal(0)
    return dir
  })()
  return trained
}
