/**
 * Load on the web app: many concurrent predictions for a bounded time against
 * `digit-classification serve` running as its own process on 127.0.0.1, and
 * a check that every answered prediction was logged exactly once.
 *
 *   npm run build && npx tsx bench/load.ts [--seconds 10] [--concurrency 16] [--checkpoint FILE] [--database-url URL]
 *
 * Phases, each measured the same way: GET /api/health (the baseline: HTTP
 * and routing only), predictions one at a time, predictions N at a time.
 * Without --checkpoint a tiny model is trained first on the committed fixture.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {once} from 'node:events'
import {existsSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'
import {parseArgs} from 'node:util'

import {z} from 'zod'

import {CLASSES, MNIST_FILES, PIXELS} from '../src/config.js'
import {readIdxPair} from '../src/data/idx.js'
import {grayPng} from '../src/server/thumbnail.js'
import {resolveTrainingConfig} from '../src/training/config.js'
import {runTraining} from '../src/training/run.js'

const ROOT = join(import.meta.dirname, '..')
const FIXTURE_DIR = join(ROOT, 'fixtures', 'mnist')
const BIN = join(ROOT, 'bin', 'run.js')

const ArgsSchema = z.object({
  seconds: z.coerce.number().positive().max(120).default(10),
  concurrency: z.coerce.number().int().min(1).max(256).default(16),
  checkpoint: z.string().optional(),
  'database-url': z.string().optional(),
})

interface Phase {
  name: string
  requests: number
  errors: number
  seconds: number
  latencies: number[]
  ids: number[]
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/** `workers` loops sending requests back to back until `seconds` have passed. */
async function phase(name: string, seconds: number, workers: number, send: (i: number) => Promise<Response>): Promise<Phase> {
  const result: Phase = {name, requests: 0, errors: 0, seconds, latencies: [], ids: []}
  const deadline = performance.now() + seconds * 1000
  let counter = 0
  const started = performance.now()
  await Promise.all(
    Array.from({length: workers}, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now()
        try {
          const response = await send(counter++)
          const body = (await response.json()) as {id?: number}
          if (response.ok) {
            result.latencies.push(performance.now() - t0)
            if (typeof body.id === 'number') result.ids.push(body.id)
          } else {
            result.errors += 1
          }
        } catch {
          result.errors += 1
        }

        result.requests += 1
      }
    }),
  )
  result.seconds = (performance.now() - started) / 1000
  result.latencies.sort((a, b) => a - b)
  return result
}

function report(p: Phase): string {
  const ok = p.latencies.length
  return [
    p.name.padEnd(26),
    `${(ok / p.seconds).toFixed(1).padStart(8)} req/s`,
    `p50 ${percentile(p.latencies, 50).toFixed(1).padStart(6)} ms`,
    `p99 ${percentile(p.latencies, 99).toFixed(1).padStart(6)} ms`,
    `errors ${p.errors}`,
    `(${ok} ok in ${p.seconds.toFixed(1)} s)`,
  ].join('  ')
}

async function tinyCheckpoint(dir: string): Promise<string> {
  const config = resolveTrainingConfig({flags: {epochs: 2, 'class-counts': '8=350,0=120,5=30', 'run-name': 'bench'}})
  await runTraining({config, dataDir: FIXTURE_DIR, outputDir: join(dir, 'bench')}, {
    progress: new Writable({write: (_chunk, _encoding, done) => done()}),
  })
  return join(dir, 'bench', 'best.ckpt')
}

async function startServe(args: string[]): Promise<{child: ChildProcess; url: string}> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], {stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      const match = /serving on (http:\/\/\S+)/.exec(stderr)
      if (match) resolve(match[1])
    })
    child.once('exit', () => reject(new Error(`serve exited: ${stderr.trim()}`)))
  })
  return {child, url}
}

async function main(): Promise<void> {
  const {values} = parseArgs({
    options: {seconds: {type: 'string'}, concurrency: {type: 'string'}, checkpoint: {type: 'string'}, 'database-url': {type: 'string'}},
  })
  const args = ArgsSchema.parse(values)
  if (!existsSync(join(ROOT, 'dist', 'commands', 'serve.js'))) throw new Error('build first: npm run build')
  const temp = await mkdtemp(join(tmpdir(), 'digit-load-'))
  let server: {child: ChildProcess; url: string} | undefined
  try {
    const checkpoint = args.checkpoint ?? (await tinyCheckpoint(temp))
    const database = args['database-url'] ?? `sqlite:${join(temp, 'predictions.sqlite')}`
    server = await startServe(['--checkpoint-path', checkpoint, '--runs-dir', join(temp, 'runs'), '--data-dir', temp, '--database-url', database])
    const {url} = server

    const {images, labels} = await readIdxPair(join(FIXTURE_DIR, MNIST_FILES.trainImages.name), join(FIXTURE_DIR, MNIST_FILES.trainLabels.name))
    const pngs: Array<Uint8Array<ArrayBuffer>> = []
    for (let i = 0; i < images.count && pngs.length < 200; i++) {
      if (!(CLASSES as readonly number[]).includes(labels[i])) continue
      pngs.push(new Uint8Array(grayPng(Float32Array.from(images.pixels.subarray(i * PIXELS, (i + 1) * PIXELS), (v) => v / 255))))
    }

    const predict = (i: number) => fetch(`${url}/api/predict`, {method: 'POST', headers: {'content-type': 'image/png'}, body: pngs[i % pngs.length]})
    const logged = async () => ((await (await fetch(`${url}/api/history?limit=1`)).json()) as {total: number}).total

    // Warm-up: the first predictions load image decoders and compile kernels.
    for (let i = 0; i < 20; i++) await (await predict(i)).json()
    const baseline = Math.min(3, args.seconds)
    const rowsBefore = await logged()
    const phases = [
      await phase(`GET /api/health ×${args.concurrency}`, baseline, args.concurrency, () => fetch(`${url}/api/health`)),
      await phase('POST /api/predict ×1', baseline, 1, predict),
      await phase(`POST /api/predict ×${args.concurrency}`, args.seconds, args.concurrency, predict),
    ]
    const rowsAfter = await logged()

    const predictions = phases.slice(1)
    const answered = predictions.reduce((sum, p) => sum + p.latencies.length, 0)
    const ids = predictions.flatMap((p) => p.ids)
    const uniqueIds = new Set(ids).size
    const [health, single, concurrent] = phases
    const rate = (p: Phase) => p.latencies.length / p.seconds

    process.stdout.write(`server ${url}, database ${database.startsWith('sqlite:') ? 'sqlite (file)' : database.replace(/\/\/[^@]*@/, '//')}\n`)
    for (const p of phases) process.stdout.write(`${report(p)}\n`)
    process.stdout.write(`concurrent / single predictions: ${(rate(concurrent) / rate(single)).toFixed(2)}× the throughput\n`)
    process.stdout.write(`predictions / health (HTTP only): ${(rate(concurrent) / rate(health)).toFixed(3)} of the throughput\n`)
    const exactlyOnce = rowsAfter - rowsBefore === answered && uniqueIds === answered
    process.stdout.write(
      `logged rows: ${rowsBefore} → ${rowsAfter} (+${rowsAfter - rowsBefore}) for ${answered} answered predictions, ${uniqueIds} distinct ids: ${exactlyOnce ? 'each logged exactly once' : 'MISMATCH'}\n`,
    )
    if (!exactlyOnce || phases.some((p) => p.errors > 0)) process.exitCode = 1
  } finally {
    if (server && server.child.exitCode === null) {
      const exited = once(server.child, 'exit')
      server.child.kill('SIGTERM')
      await exited
    }

    await rm(temp, {recursive: true, force: true})
  }
}

await main()
