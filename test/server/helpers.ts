import {randomBytes} from 'node:crypto'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'

import pg from 'pg'

import {DEFAULT_CLASSES, PIXELS} from '../../src/config.js'
import {KNOWN_RATE, type OpenSet} from '../../src/evaluation/openset.js'
import {type RunningServer, type ServeOptions, startServer} from '../../src/server/server.js'
import {grayPng} from '../../src/images/png.js'
import {FIXTURE_DIR, readFixture} from '../helpers/fixtures.js'

/** A fresh folder under the system temp dir, removed by the returned function. */
export async function tempDir(prefix = 'digit-server-'): Promise<{dir: string; remove(): Promise<void>}> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return {dir, remove: () => rm(dir, {recursive: true, force: true})}
}

/**
 * The PostgreSQL test database (TEST_DATABASE_URL, exported by .ci/services.sh).
 * Outside CI its absence skips the PostgreSQL tests with a note; in CI it is a failure.
 */
export function postgresUrl(context: Mocha.Context): string {
  const url = process.env.TEST_DATABASE_URL
  if (url) return url
  if (process.env.CI) throw new Error('TEST_DATABASE_URL is not set in CI: .ci/services.sh should have started PostgreSQL and exported it')
  process.stderr.write('    (skipping PostgreSQL tests: set TEST_DATABASE_URL, e.g. by sourcing .ci/services.sh)\n')
  context.skip()
}

/**
 * A schema of its own in the test database, so each run starts from an empty
 * database (migrations included) and leaves nothing behind.
 */
export async function isolatedSchema(url: string): Promise<{url: string; drop(): Promise<void>}> {
  const schema = `test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({connectionString: url})
  await admin.connect()
  await admin.query(`CREATE SCHEMA ${schema}`)
  await admin.end()
  const withPath = new URL(url)
  withPath.searchParams.set('options', `-c search_path=${schema}`)
  return {
    url: withPath.toString(),
    async drop() {
      const client = new pg.Client({connectionString: url})
      await client.connect()
      await client.query(`DROP SCHEMA ${schema} CASCADE`)
      await client.end()
    },
  }
}

let trained: Promise<string> | undefined

/** Class counts small enough for a test run of a few seconds. */
export const TINY_CLASS_COUNTS = '8=70,0=24,5=6'

/**
 * A real checkpoint, trained once per test process on the committed MNIST
 * fixture: a tiny imbalanced subset and one epoch, a few seconds on a CPU.
 * (Imported lazily: the store tests need no TensorFlow.js.)
 */
export function trainedCheckpoint(): Promise<string> {
  trained ??= (async () => {
    const {runTraining} = await import('../../src/training/run.js')
    const {resolveTrainingConfig} = await import('../../src/training/config.js')
    const {dir} = await tempDir('digit-server-model-')
    const config = resolveTrainingConfig({flags: {epochs: 1, 'class-counts': TINY_CLASS_COUNTS, 'run-name': 'fixture-run'}})
    await runTraining(
      {config, dataDir: FIXTURE_DIR, outputDir: join(dir, 'fixture-run')},
      {progress: new Writable({write: (_chunk, _encoding, done) => done()})},
    )
    return join(dir, 'fixture-run', 'best.ckpt')
  })()
  return trained
}

/**
 * A copy of a checkpoint with an open-set threshold no calibrated max softmax
 * reaches (it is at most 1): every image with a stroke is answered "not one of" its digits.
 */
export async function neverSureCheckpoint(from: string, to: string): Promise<void> {
  const {decodeCheckpoint, encodeCheckpoint} = await import('../../src/model/checkpoint.js')
  const checkpoint = decodeCheckpoint(await readFile(from), from)
  const openSet: OpenSet = {
    temperature: 1,
    knownRate: KNOWN_RATE,
    fittedOn: 'val',
    valKnownRate: 1,
    ...checkpoint.header.openSet,
    score: 'max_softmax',
    rejectHead: null,
    threshold: 2,
  }
  // Ids hash the weights: one value nudged (far below what changes an answer) so it can be served beside the original.
  const last = checkpoint.header.tensors.at(-1)!.name
  const values = {...checkpoint.values, [last]: Float32Array.from(checkpoint.values[last], (v, i) => (i === 0 ? v + 1e-6 : v))}
  await writeFile(to, encodeCheckpoint({...checkpoint.header, openSet}, values))
}

/** Digits of the committed fixture as 28×28 grayscale PNGs (white ink on black, as MNIST stores them). */
export async function fixtureDigitPngs(count: number): Promise<Array<{label: number; png: Buffer}>> {
  const {images, labels} = await readFixture()
  const out: Array<{label: number; png: Buffer}> = []
  for (let i = 0; i < images.count && out.length < count; i++) {
    if (!(DEFAULT_CLASSES as readonly number[]).includes(labels[i])) continue
    const pixels = Float32Array.from(images.pixels.subarray(i * PIXELS, (i + 1) * PIXELS), (v) => v / 255)
    out.push({label: labels[i], png: grayPng(pixels)})
  }

  return out
}

/**
 * A server on a free port over the fixture digits, with its runs in `dir/runs`
 * and its prediction log in `dir/predictions.sqlite`, quiet; `options` add to
 * or replace these (a checkpoint, limits, another database, a log sink).
 */
export function startFixtureServer(dir: string, options: ServeOptions = {}): Promise<RunningServer> {
  return startServer({
    port: 0,
    runsDir: join(dir, 'runs'),
    dataDir: FIXTURE_DIR,
    databaseUrl: `sqlite:${join(dir, 'predictions.sqlite')}`,
    log: () => {},
    ...options,
  })
}
