/**
 * The fixed cost of a training run: `npm run bench:fixed-cost` (after `npm run build`).
 *
 * Times whole `digit-classification train` processes with the SPEC recipe on
 * the real MNIST, as a user runs them: per epoch = (T(N) − T(1)) / (N − 1),
 * fixed cost = T(1) − per epoch (start-up, reading and curating the data, the
 * first epoch's warm-up, the final evaluation, the artifacts and exit): the
 * whole process's wall time beyond its epochs. Work moved onto other threads
 * (the plot renderer loading during the epochs) counts as far as it delays
 * the process, in whichever phase it does. Runs
 * are interleaved (T(1), T(N), for each thread count, then again) and medians
 * taken. The T(1) runs are also split into phases by the time their progress
 * lines reach stderr:
 *
 *   start-up          spawn → "backend:" (Node, oclif, modules, data, engine)
 *   epoch 1           → "epoch 1/1" (training, validation, checkpoints)
 *   final evaluation  → "open set:" (best.ckpt on the validation and evaluation
 *                       splits, the fit-end callbacks: temperature, open set)
 *   artifacts         → "wrote N files" (the training split scored while the
 *                       plots render, documents and plots written)
 *   exit              → the process ends
 *
 * Each round also times `digit-classification --version`: Node and the CLI
 * framework starting and exiting with nothing to do, the floor under any run.
 *
 *   npm run bench:fixed-cost -- [--threads 1,2] [--epochs 4] [--repeat 3]
 *
 * The data: MNIST_DIR (or data/), see bench/mnist-data.ts.
 */
import {existsSync, rmSync} from 'node:fs'
import {availableParallelism, loadavg} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'

import {type StampedLine, median, timeProcess} from './common.js'
import {realMnist} from './mnist-data.js'

const {values: args} = parseArgs({
  options: {
    threads: {type: 'string', default: '1,2'},
    epochs: {type: 'string', default: '4'},
    repeat: {type: 'string', default: '3'},
  },
})

const root = join(import.meta.dirname, '..')
const cli = join(root, 'bin', 'run.js')
if (!existsSync(join(root, 'dist', 'commands', 'train.js'))) {
  process.stderr.write('bench:fixed-cost times the built CLI: run npm run build first\n')
  process.exit(1)
}

const epochs = Number(args.epochs)
const repeat = Number(args.repeat)
const threads = args.threads.split(',').map(Number)
if (!(epochs >= 2) || !(repeat >= 1) || threads.some((t) => !(t >= 1))) throw new Error('--epochs must be at least 2, --repeat and --threads at least 1')

const dataDir = await realMnist()
const out = join(import.meta.dirname, '.out', 'fixed-cost')

/** One whole default `train` of `epochCount` epochs on `threadCount` threads. */
async function train(epochCount: number, threadCount: number): Promise<{seconds: number; lines: StampedLine[]}> {
  const outputDir = join(out, `run-${threadCount}-${epochCount}`)
  rmSync(outputDir, {recursive: true, force: true})
  return timeProcess([
    cli,
    'train',
    '--data-dir',
    dataDir,
    '--output-dir',
    outputDir,
    '--epochs',
    String(epochCount),
    '--num-workers',
    String(threadCount),
    '--backend',
    'wasm',
  ])
}

const PHASES = [
  {name: 'start-up', ends: /^backend: /},
  {name: 'epoch 1', ends: /^epoch 1\/1 /},
  {name: 'final evaluation', ends: /^open set: /},
  {name: 'artifacts', ends: /^wrote \d+ files /},
] as const

/** Seconds of each phase of a one-epoch run, and its exit. */
function phases(run: {seconds: number; lines: StampedLine[]}): number[] {
  let last = 0
  const spans = PHASES.map(({name, ends}) => {
    const line = run.lines.find((l) => ends.test(l.text))
    if (!line) throw new Error(`no "${name}" line on stderr`)
    const span = line.at - last
    last = line.at
    return span
  })
  return [...spans, run.seconds - last]
}

const loadBefore = loadavg()[0]
const samples = new Map(threads.map((t) => [t, {one: [] as number[], many: [] as number[], phases: [] as number[][]}]))
const bare: number[] = []
for (let r = 0; r < repeat; r++) {
  bare.push((await timeProcess([cli, '--version'])).seconds)
  for (const t of threads) {
    const s = samples.get(t)!
    const one = await train(1, t)
    const many = await train(epochs, t)
    s.one.push(one.seconds)
    s.many.push(many.seconds)
    s.phases.push(phases(one))
    process.stderr.write(
      `run ${r + 1}/${repeat}, ${t} thread(s): T(1) ${one.seconds.toFixed(2)} s, T(${epochs}) ${many.seconds.toFixed(2)} s (load ${loadavg()[0].toFixed(1)})\n`,
    )
  }
}

const loadAfter = loadavg()[0]
const names = [...PHASES.map((p) => p.name), 'exit']
const lines = [
  `real MNIST in ${dataDir}, the SPEC recipe; node ${process.version}; medians of ${repeat} interleaved run(s)`,
  `per epoch = (T(${epochs}) − T(1)) / ${epochs - 1}, fixed = T(1) − per epoch`,
  `machine: ${availableParallelism()} cores, load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after`,
  `floor: \`digit-classification --version\` (Node and the CLI starting and exiting) ${median(bare).toFixed(2)} s`,
  '',
  `| threads | T(1) s | T(${epochs}) s | per epoch s | fixed s | ${names.join(' s | ')} s |`,
  `| --- | --- | --- | --- | --- |${names.map(() => ' --- |').join('')}`,
]
for (const t of threads) {
  const s = samples.get(t)!
  const one = median(s.one)
  const perEpoch = (median(s.many) - one) / (epochs - 1)
  const spans = names.map((_, i) => median(s.phases.map((p) => p[i])).toFixed(2))
  lines.push(`| ${t} | ${one.toFixed(2)} | ${median(s.many).toFixed(2)} | ${perEpoch.toFixed(3)} | ${(one - perEpoch).toFixed(2)} | ${spans.join(' | ')} |`)
}

process.stdout.write(`${lines.join('\n')}\n`)
