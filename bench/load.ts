/**
 * Load on the web app: many concurrent predictions for a bounded time against
 * `digit-classification serve` running as its own process on 127.0.0.1, and
 * a check that every answered prediction was logged exactly once.
 *
 *   npm run build && npx tsx bench/load.ts [--seconds 10] [--concurrency 16] [--uploads 4] [--upload-side 4000] [--checkpoint FILE] [--database-url URL]
 *
 * Phases, each measured the same way: GET /api/health (the baseline: HTTP
 * and routing only), predictions one at a time, predictions N at a time.
 * Then the large-upload phase: --uploads clients send a large JPEG (default
 * 4000×4000, 16 megapixels, within the server's budget) back to back while
 * one client polls GET /api/health; the health latency under that load is
 * compared with the baseline, and busy answers (503 + Retry-After) counted.
 * Without --checkpoint a tiny model is trained first on the committed fixture.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {once} from 'node:events'
import {existsSync, readFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'
import {parseArgs} from 'node:util'

import {z} from 'zod'

import {DEFAULT_CLASSES, MNIST_FILES, PIXELS} from '../src/config.js'
import {readIdxPair} from '../src/data/idx.js'
import {grayPng} from '../src/images/png.js'
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
  uploads: z.coerce.number().int().min(0).max(64).default(4),
  'upload-side': z.coerce.number().int().min(100).max(10_000).default(4000),
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

/** A large JPEG with a ring of ink: what a phone photo of a digit costs to decode. */
async function largeJpeg(side: number): Promise<Uint8Array<ArrayBuffer>> {
  const data = Buffer.alloc(side * side * 4, 0xff)
  const centre = side / 2
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const r = Math.hypot(x - centre, y - centre) / side
      if (r > 0.2 && r < 0.27) data.fill(0x20, (y * side + x) * 4, (y * side + x) * 4 + 3)
    }
  }

  const codec = (await import('@jimp/js-jpeg')).default()
  return new Uint8Array(codec.encode({width: side, height: side, data}, {quality: 80}))
}

/** `clients` send the large JPEG back to back for `seconds` while one client polls health. */
async function largeUploads(url: string, clients: number, side: number, seconds: number): Promise<{uploads: Phase; health: Phase; busy: number}> {
  const jpeg = await largeJpeg(side)
  let busy = 0
  const failures: string[] = []
  const upload = async () => {
    const response = await fetch(`${url}/api/predict`, {method: 'POST', headers: {'content-type': 'image/jpeg'}, body: jpeg})
    if (!response.ok && response.status !== 503) failures.push(`${response.status} ${await response.clone().text()}`)
    if (response.status === 503) {
      busy += 1
      // Do as told before trying again.
      await new Promise((resolve) => setTimeout(resolve, Number(response.headers.get('retry-after') ?? 1) * 1000))
    }

    return response
  }

  const sizeMb = (jpeg.length / 1024 / 1024).toFixed(1)
  const [uploads, health] = await Promise.all([
    phase(`POST ${side}² JPEG (${sizeMb} MB) ×${clients}`, seconds, clients, upload),
    phase('GET /api/health meanwhile', seconds, 1, () => fetch(`${url}/api/health`)),
  ])
  for (const failure of new Set(failures)) process.stderr.write(`upload failed: ${failure}\n`)
  return {uploads, health, busy}
}

/** The server process's peak resident memory, from /proc (Linux only). */
function peakMemory(pid: number | undefined): string | undefined {
  if (pid === undefined || !existsSync(`/proc/${pid}/status`)) return undefined
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
  return kb ? `${(Number(kb) / 1024).toFixed(0)} MiB` : undefined
}

async function tinyCheckpoint(dir: string): Promise<string> {
  const config = resolveTrainingConfig({flags: {epochs: 2, 'class-counts': '8=350,0=120,5=30', 'run-name': 'bench'}})
  await runTraining(
    {config, dataDir: FIXTURE_DIR, outputDir: join(dir, 'bench')},
    {
      progress: new Writable({write: (_chunk, _encoding, done) => done()}),
    },
  )
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
    options: {
      seconds: {type: 'string'},
      concurrency: {type: 'string'},
      checkpoint: {type: 'string'},
      'database-url': {type: 'string'},
      uploads: {type: 'string'},
      'upload-side': {type: 'string'},
    },
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
      if (!(DEFAULT_CLASSES as readonly number[]).includes(labels[i])) continue
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
    const large = args.uploads > 0 ? await largeUploads(url, args.uploads, args['upload-side'], args.seconds) : undefined
    phases.push(...(large ? [large.uploads] : []))
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
    if (large) {
      process.stdout.write(`${report(large.health)}\n`)
      process.stdout.write(
        `large uploads: ${large.uploads.latencies.length} answered, ${large.busy} told to retry (503 + Retry-After), other errors ${large.uploads.errors - large.busy}; ` +
          `health p99 under them / alone: ${(percentile(large.health.latencies, 99) / percentile(health.latencies, 99)).toFixed(1)}×\n`,
      )
    }

    const peak = peakMemory(server.child.pid)
    if (peak) process.stdout.write(`server peak memory (VmHWM): ${peak}\n`)
    const exactlyOnce = rowsAfter - rowsBefore === answered && uniqueIds === answered
    process.stdout.write(
      `logged rows: ${rowsBefore} → ${rowsAfter} (+${rowsAfter - rowsBefore}) for ${answered} answered predictions, ${uniqueIds} distinct ids: ${exactlyOnce ? 'each logged exactly once' : 'MISMATCH'}\n`,
    )
    if (!exactlyOnce || phases.some((p) => p.errors > (p === large?.uploads ? large.busy : 0))) process.exitCode = 1
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
