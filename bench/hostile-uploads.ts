/**
 * Health latency of `serve` while clients upload hostile images (a self-looping
 * TIFF, a tag claiming 2^30 values, a progressive JPEG of 160,000 scans, a BMP
 * claiming 9999×4000 pixels), against the same server idle, in one run:
 *
 *   npx tsx bench/hostile-uploads.ts [seconds per phase, default 10] [clients, default 4]
 *
 * Prints p50/p99/max of GET /api/health in each phase, the ratio to idle, the
 * answers the uploads got and their slowest, and the load average. A control
 * phase uploads as many bytes as the largest hostile file but refused from
 * their first byte: what it costs is receiving the body, not decoding it.
 */
import {mkdtempSync, readFileSync} from 'node:fs'
import {loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'
import {Worker} from 'node:worker_threads'

import {startServer} from '../src/server/server.js'
import {resolveTrainingConfig} from '../src/training/config.js'
import {runTraining} from '../src/training/run.js'
import {hostileImages} from '../test/faults/hostile-images.js'

const seconds = Number(process.argv[2] ?? 10)
const clients = Number(process.argv[3] ?? 4)
const ROOT = join(import.meta.dirname, '..')
const dir = mkdtempSync(join(tmpdir(), 'bench-hostile-'))

const config = resolveTrainingConfig({flags: {epochs: 1, 'class-counts': '8=70,0=24,5=12', 'run-name': 'bench'}})
await runTraining(
  {config, dataDir: join(ROOT, 'fixtures', 'mnist'), outputDir: join(dir, 'bench')},
  {progress: new Writable({write: (_chunk, _encoding, done) => done()})},
)
const server = await startServer({
  port: 0,
  runsDir: join(dir, 'runs'),
  dataDir: join(ROOT, 'fixtures', 'mnist'),
  databaseUrl: `sqlite:${join(dir, 'predictions.sqlite')}`,
  checkpointPath: join(dir, 'bench', 'best.ckpt'),
  log: () => {},
})

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/** GET /api/health every 20 ms until `until`; the latencies in ms. */
async function pollHealth(until: number): Promise<number[]> {
  const latencies: number[] = []
  while (Date.now() < until) {
    const start = performance.now()
    const response = await fetch(`${server.url}/api/health`)
    await response.arrayBuffer()
    latencies.push(performance.now() - start)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }

  return latencies.sort((a, b) => a - b)
}

/**
 * The uploading clients run in a worker thread, so that their own work (building
 * and sending 5 MB bodies) does not sit on the server's event loop, as it would
 * not with real clients. They report {status: count} and the slowest answer.
 */
const UPLOADER = `
const {workerData, parentPort} = require('node:worker_threads')
const {url, images, clients, until} = workerData
const answers = {}
let slowest = 0
async function client(offset) {
  for (let i = offset; Date.now() < until; i++) {
    const start = performance.now()
    const response = await fetch(url + '/api/predict', {method: 'POST', headers: {'content-type': 'application/octet-stream'}, body: images[i % images.length]})
    await response.arrayBuffer()
    slowest = Math.max(slowest, performance.now() - start)
    answers[response.status] = (answers[response.status] ?? 0) + 1
  }
}
Promise.all(Array.from({length: clients}, (_, i) => client(i))).then(() => parentPort.postMessage({answers, slowest}))
`

function uploaders(until: number, images: Uint8Array[]): Promise<{answers: Record<string, number>; slowest: number}> {
  const worker = new Worker(UPLOADER, {eval: true, workerData: {url: server.url, images, clients, until}})
  return new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
}

const summary = (latencies: number[]) => ({n: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1)!})
const format = ({n, p50, p99, max}: ReturnType<typeof summary>) => `n=${n} p50=${p50.toFixed(1)} ms p99=${p99.toFixed(1)} ms max=${max.toFixed(1)} ms`

try {
  // A normal prediction first, so both phases start with warm decode workers and model.
  await fetch(`${server.url}/api/predict`, {
    method: 'POST',
    headers: {'content-type': 'image/png'},
    body: new Uint8Array(readFileSync(join(ROOT, 'sample.png'))),
  })
  const idle = summary(await pollHealth(Date.now() + seconds * 1000))
  console.log(`health, idle: ${format(idle)}`)
  const hostile = hostileImages()
  const phases: [string, Uint8Array[]][] = [
    ['all hostile images', hostile.map(({bytes}) => new Uint8Array(bytes))],
    ['the small ones (without the 5 MB JPEG)', hostile.filter(({bytes}) => bytes.length < 1_000_000).map(({bytes}) => new Uint8Array(bytes))],
    // Control: as many bytes as the JPEG, refused from its first byte, so what is left is the cost of receiving 5 MB.
    ['5 MB that are not an image (control)', [new Uint8Array(hostile.find(({name}) => name === 'scans.jpg')!.bytes.length)]],
  ]
  for (const [label, images] of phases) {
    const until = Date.now() + seconds * 1000
    const [loaded, {answers, slowest}] = await Promise.all([pollHealth(until), uploaders(until, images)])
    const busy = summary(loaded)
    console.log(`health, ${clients} clients uploading ${label}: ${format(busy)}, p99 ${(busy.p99 / idle.p99).toFixed(1)}× idle`)
    console.log(
      `  uploads: ${Object.entries(answers)
        .map(([status, count]) => `${count}× ${status}`)
        .join(', ')}; slowest answer ${slowest.toFixed(0)} ms`,
    )
  }

  console.log(
    `load average: ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}`,
  )
} finally {
  await server.close()
}
