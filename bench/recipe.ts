/**
 * The full default recipe on the real MNIST, over several seeds, against
 * PyTorch on the same images: `npm run bench:recipe`.
 *
 * For each seed: this package trains the SPEC recipe end to end (curate 5,000
 * images, split, up to 20 epochs with early stopping, checkpoints and
 * artifacts) and its best checkpoint is scored on the 1,000-image evaluation
 * split; then bench/pytorch_train.py trains the same CNN and recipe on the same
 * normalised tensors and scores its best-validation model on the same split.
 * Prints per-seed wall time and evaluation macro-F1, then mean and min.
 * Nothing here looks at the official test split.
 *
 *   npm run bench:recipe -- [--seeds 11122025,1,2,3,4] [--threads 2] [--torch-threads N] [--no-torch]
 *
 * --torch-threads (default: --threads) exists for busy machines, where
 * PyTorch's two OpenMP threads spin-wait for a descheduled partner.
 */
import {spawnSync} from 'node:child_process'
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'
import {parseArgs} from 'node:util'

import {DEFAULT_SEED} from '../src/config.js'
import {resolveTrainingConfig} from '../src/training/config.js'
import {prepareData, runTraining} from '../src/training/run.js'
import {torchPython, torchVersion} from './common.js'
import {realMnist} from './mnist-data.js'

const {values: args} = parseArgs({
  options: {
    seeds: {type: 'string', default: `${DEFAULT_SEED},1,2,3,4`},
    threads: {type: 'string', default: '2'},
    'torch-threads': {type: 'string'},
    'no-torch': {type: 'boolean', default: false},
  },
})

const dataDir = await realMnist()
const out = join(import.meta.dirname, '.out', 'recipe')
const torchThreads = args['torch-threads'] ?? args.threads
const python = args['no-torch'] ? undefined : torchPython()
const rows: Array<{seed: number; ours: {seconds: number; f1: number; epochs: number}; torch?: {seconds: number; f1: number; epochs: number}}> = []

for (const seed of args.seeds.split(',').map(Number)) {
  const config = resolveTrainingConfig({flags: {seed, 'num-workers': Number(args.threads), 'run-name': `recipe-${seed}`}})
  const outputDir = join(out, `seed-${seed}`)
  rmSync(outputDir, {recursive: true, force: true})
  const sink = new PassThrough()
  sink.resume()
  const started = performance.now()
  const summary = await runTraining({config, dataDir, outputDir}, {progress: sink})
  const ours = {seconds: (performance.now() - started) / 1000, f1: summary.metrics.eval.f1_macro, epochs: summary.epochs}
  const row: (typeof rows)[number] = {seed, ours}

  if (python) {
    const data = await prepareData(dataDir, config)
    const torchDir = join(out, `torch-${seed}`)
    mkdirSync(torchDir, {recursive: true})
    const f32 = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)
    for (const split of ['train', 'val', 'eval'] as const) {
      writeFileSync(join(torchDir, `${split}_x.f32`), f32(data.tensors[split].x))
      writeFileSync(join(torchDir, `${split}_y.u8`), Uint8Array.from(data.tensors[split].y))
    }

    writeFileSync(
      join(torchDir, 'meta.json'),
      JSON.stringify({epochs: config.epochs, batchSize: config.batch_size, learningRate: config.learning_rate, seed, classWeights: data.classWeights}),
    )
    const begun = performance.now()
    const result = spawnSync(python, [join(import.meta.dirname, 'pytorch_train.py'), torchDir, '--threads', torchThreads], {encoding: 'utf8'})
    const seconds = (performance.now() - begun) / 1000
    if (result.status !== 0) throw new Error(`pytorch_train.py failed: ${result.stderr.trim().split('\n').at(-1)}`)
    const torch = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as {eval_f1_macro: number; epochs: number}
    row.torch = {seconds, f1: torch.eval_f1_macro, epochs: torch.epochs}
  }

  rows.push(row)
  const line = (name: string, r: {seconds: number; f1: number; epochs: number}) =>
    `${name} ${r.seconds.toFixed(1)} s, ${r.epochs} epochs, eval macro F1 ${r.f1.toFixed(4)}`
  process.stdout.write(`seed ${seed}: ${line('ours', ours)}${row.torch ? `; ${line('pytorch', row.torch)}` : ''}\n`)
}

const stats = (values: number[]) => `mean ${(values.reduce((a, b) => a + b, 0) / values.length).toFixed(4)}, min ${Math.min(...values).toFixed(4)}`
const seconds = (values: number[]) => `mean ${(values.reduce((a, b) => a + b, 0) / values.length).toFixed(1)} s`
process.stdout.write(`ours (${args.threads} threads): eval macro F1 ${stats(rows.map((r) => r.ours.f1))}; wall ${seconds(rows.map((r) => r.ours.seconds))}\n`)
const torchRows = rows.flatMap((r) => (r.torch ? [r.torch] : []))
if (python && torchRows.length > 0) {
  process.stdout.write(
    `pytorch ${torchVersion(python)} (${torchThreads} thread(s), process wall incl. import): eval macro F1 ${stats(torchRows.map((r) => r.f1))}; wall ${seconds(torchRows.map((r) => r.seconds))}\n`,
  )
}
