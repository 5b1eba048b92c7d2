/**
 * Model quality of training recipes on the real MNIST over several seeds, this
 * package against the repo's PyTorch side on the same images:
 * `npm run bench:quality`.
 *
 * Each configuration is a set of `train` flags (`--config FILE` reads a recipe
 * file, as `train --config` does). For every seed this package trains end to
 * end (curate, split, train, calibrate, artifacts); its best checkpoint is
 * scored on that seed's 1,000-image **evaluation** split (macro-F1, and the
 * expected calibration error before and after temperature scaling), with the
 * epochs run, the mean epoch time and the run's wall time. Then
 * bench/pytorch_train.py trains the same network, loss, augmentation and early
 * stopping on the same normalised tensors and is scored on the same split.
 *
 * The choice of a recipe reads the evaluation columns only. The official test
 * set (t10k images of the run's digits) is scored afterwards for reporting, in
 * columns of its own; `--no-test` leaves it out.
 *
 *   npm run bench:quality -- [--seeds 1,2,3,4,5] [--threads 1] [--torch-threads N] [--no-torch] [--no-test] \
 *     [--config 'recipe=' --config 'accurate=--config recipes/accurate.json' …]
 *
 * Each `--config` is `label=flags`; without any, the SPEC recipe and
 * recipes/accurate.json are measured.
 */
import {spawnSync} from 'node:child_process'
import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {loadavg} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'
import {parseArgs} from 'node:util'

import {z} from 'zod'

import {describeNetwork} from '../src/architecture.js'
import {EpochLogSchema} from '../src/artifacts/epoch-log.js'
import {loadTestSplit, splitTensors} from '../src/data/dataset.js'
import {AUGMENT_DEFAULTS} from '../src/data/augment.js'
import {evaluateSplit} from '../src/evaluation/evaluate.js'
import {loadPredictor} from '../src/model/predictor.js'
import {readConfigFile, resolveTrainingConfig, type TrainingConfig} from '../src/training/config.js'
import {lossTerms} from '../src/training/module.js'
import {prepareData, runTraining} from '../src/training/run.js'
import {torchPython, torchVersion} from './common.js'
import {realMnist} from './mnist-data.js'

const {values: args} = parseArgs({
  options: {
    seeds: {type: 'string', default: '1,2,3,4,5'},
    threads: {type: 'string', default: '1'},
    'torch-threads': {type: 'string'},
    'no-torch': {type: 'boolean', default: false},
    'no-test': {type: 'boolean', default: false},
    config: {type: 'string', multiple: true},
  },
})

const DEFAULT_CONFIGS = ['recipe=', `accurate=--config ${join(import.meta.dirname, '..', 'recipes', 'accurate.json')}`]

/** `--augment --patience 8` → {augment: true, patience: 8}; a flag without a value is a switch. */
function parseFlags(text: string): Record<string, string | number | boolean> {
  const words = text.split(/\s+/).filter(Boolean)
  const flags: Record<string, string | number | boolean> = {}
  for (let i = 0; i < words.length; i++) {
    if (!words[i].startsWith('--')) throw new Error(`expected a flag, got ${words[i]}`)
    const name = words[i].slice(2)
    const next = words[i + 1]
    if (next === undefined || next.startsWith('--')) {
      if (name.startsWith('no-')) flags[name.slice(3)] = false
      else flags[name] = true
    } else {
      flags[name] = Number.isNaN(Number(next)) ? next : Number(next)
      i++
    }
  }

  return flags
}

/** The flags of one configuration and seed as the train command resolves them (a `--config` file under the flags). */
async function resolve(flagText: string, seed: number, label: string): Promise<TrainingConfig> {
  const {config: file, ...flags} = parseFlags(flagText)
  return resolveTrainingConfig({
    file: typeof file === 'string' ? {values: await readConfigFile(file), source: file} : undefined,
    flags: {...flags, seed, 'num-workers': Number(args.threads), 'run-name': `${label}-${seed}`},
  })
}

interface Scores {
  f1: number
  test?: number
  epochs: number
  epoch_seconds: number
  runSeconds: number
}

interface Ours extends Scores {
  eceBefore: number
  eceAfter: number
  testEceAfter?: number
  bestEpoch: number
}

const f32 = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length
const percent = (value: number) => `${(value * 100).toFixed(2)}%`

const dataDir = await realMnist()
const out = join(import.meta.dirname, '.out', 'quality')
const seeds = args.seeds.split(',').map(Number)
const python = args['no-torch'] ? undefined : torchPython()
const torchThreads = args['torch-threads'] ?? args.threads
const configs = (args.config ?? DEFAULT_CONFIGS).map((spec) => {
  const cut = spec.indexOf('=')
  if (cut < 0) throw new Error(`--config ${spec}: expected label=flags`)
  return {label: spec.slice(0, cut), flags: spec.slice(cut + 1)}
})

async function trainOurs(config: TrainingConfig, outputDir: string): Promise<Ours> {
  rmSync(outputDir, {recursive: true, force: true})
  const sink = new PassThrough()
  sink.resume()
  const started = performance.now()
  const summary = await runTraining({config, dataDir, outputDir}, {progress: sink})
  const runSeconds = (performance.now() - started) / 1000
  const logs = z.array(EpochLogSchema).parse(JSON.parse(readFileSync(join(outputDir, 'logs', 'metrics.json'), 'utf8')))
  const calibration = JSON.parse(readFileSync(join(outputDir, 'reliability.json'), 'utf8')) as {before: {ece: number}; after: {ece: number}}
  const row: Ours = {
    f1: summary.metrics.eval.f1_macro,
    eceBefore: calibration.before.ece,
    eceAfter: calibration.after.ece,
    epochs: summary.epochs,
    bestEpoch: summary.best_epoch,
    epoch_seconds: mean(logs.map((r) => r.epoch_seconds)),
    runSeconds,
  }
  if (!args['no-test']) {
    const predictor = await loadPredictor(join(outputDir, 'best.ckpt'))
    const test = await evaluateSplit(predictor, await loadTestSplit(dataDir, predictor.classes), 'test', 256)
    predictor.dispose()
    row.test = test.report.macro_avg.f1
    row.testEceAfter = test.calibration.ece.after
  }

  return row
}

async function trainTorch(config: TrainingConfig, torchDir: string): Promise<Scores> {
  if (!python) throw new Error('no python3 with torch')
  const data = await prepareData(dataDir, config)
  mkdirSync(torchDir, {recursive: true})
  const splits = {...data.tensors} as Record<string, {x: Float32Array; y: Int32Array}>
  if (!args['no-test']) {
    const test = await loadTestSplit(dataDir, data.dataset.classes)
    splits.test = splitTensors(test.source, test.split, data.normalization, data.dataset.classes)
  }

  for (const [split, {x, y}] of Object.entries(splits)) {
    writeFileSync(join(torchDir, `${split}_x.f32`), f32(x))
    writeFileSync(join(torchDir, `${split}_y.u8`), Uint8Array.from(y))
  }

  const net = describeNetwork(config.model, data.dataset.classes.length)
  if (net.blocks.length !== 2) throw new Error(`the PyTorch side has no ${config.model} network`)
  const loss = lossTerms(config.loss, data.tensors.train.y, data.dataset.classes.length)
  const meta = {
    epochs: config.epochs,
    batchSize: config.batch_size,
    learningRate: config.learning_rate,
    seed: config.seed,
    classWeights: loss.classWeights,
    logitOffsets: loss.logitOffsets,
    patience: config.patience,
    network:
      config.model === 'cnn' ? undefined : {c1: net.blocks[0].filters, c2: net.blocks[1].filters, hidden: net.hidden?.units ?? 0, dropout: net.hidden?.dropout},
    augment: config.augment ? {...AUGMENT_DEFAULTS, fill: -data.normalization.mean / data.normalization.std} : undefined,
  }
  writeFileSync(join(torchDir, 'meta.json'), JSON.stringify(meta))
  const started = performance.now()
  const result = spawnSync(python, [join(import.meta.dirname, 'pytorch_train.py'), torchDir, '--threads', torchThreads], {encoding: 'utf8'})
  const runSeconds = (performance.now() - started) / 1000
  if (result.status !== 0) throw new Error(`pytorch_train.py failed: ${result.stderr.trim().split('\n').at(-1)}`)
  const torch = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}') as {
    eval_f1_macro: number
    test_f1_macro: number | null
    epochs: number
    epoch_seconds: number[]
  }
  return {f1: torch.eval_f1_macro, test: torch.test_f1_macro ?? undefined, epochs: torch.epochs, epoch_seconds: mean(torch.epoch_seconds), runSeconds}
}

process.stdout.write(
  `threads ${args.threads} (PyTorch ${torchThreads}), seeds ${seeds.join(',')}, node ${process.version}, ${python ? `PyTorch ${torchVersion(python)}` : 'no PyTorch'}, load average ${loadavg()[0].toFixed(1)} at start\n`,
)
const table: string[] = []
const stat = (values: number[]) => `${mean(values).toFixed(4)} | ${Math.min(...values).toFixed(4)}`
for (const {label, flags} of configs) {
  const ours: Ours[] = []
  const torch: Scores[] = []
  for (const seed of seeds) {
    const config = await resolve(flags, seed, label)
    const row = await trainOurs(config, join(out, label, `seed-${seed}`))
    ours.push(row)
    const test = row.test === undefined ? '' : `; test macro-F1 ${row.test.toFixed(4)}, ECE ${percent(row.testEceAfter ?? 0)}`
    process.stdout.write(
      `${label} seed ${seed}: eval macro-F1 ${row.f1.toFixed(4)}, ECE ${percent(row.eceBefore)} → ${percent(row.eceAfter)}, ${row.epochs} epochs (best ${row.bestEpoch}), ${row.epoch_seconds.toFixed(2)} s/epoch, ${row.runSeconds.toFixed(1)} s${test}\n`,
    )
    if (python) {
      const t = await trainTorch(config, join(out, label, `torch-${seed}`))
      torch.push(t)
      process.stdout.write(
        `${label} seed ${seed} PyTorch: eval macro-F1 ${t.f1.toFixed(4)}, ${t.epochs} epochs, ${t.epoch_seconds.toFixed(2)} s/epoch, ${t.runSeconds.toFixed(1)} s${t.test === undefined ? '' : `; test macro-F1 ${t.test.toFixed(4)}`}\n`,
      )
    }
  }

  const testOf = (rows: Scores[]) => (rows.every((r) => r.test !== undefined) ? stat(rows.map((r) => r.test ?? 0)) : '– | –')
  table.push(
    `| ${label} | this package | ${stat(ours.map((r) => r.f1))} | ${percent(mean(ours.map((r) => r.eceBefore)))} → ${percent(mean(ours.map((r) => r.eceAfter)))} (max ${percent(Math.max(...ours.map((r) => r.eceAfter)))}) | ${mean(ours.map((r) => r.epoch_seconds)).toFixed(2)} | ${mean(ours.map((r) => r.runSeconds)).toFixed(1)} | ${testOf(ours)} |`,
  )
  if (torch.length > 0) {
    table.push(
      `| ${label} | PyTorch | ${stat(torch.map((r) => r.f1))} | – | ${mean(torch.map((r) => r.epoch_seconds)).toFixed(2)} | ${mean(torch.map((r) => r.runSeconds)).toFixed(1)} | ${testOf(torch)} |`,
    )
  }
}

process.stdout.write(
  [
    `\nload average ${loadavg()[0].toFixed(1)} at the end`,
    '| recipe | trained by | eval macro-F1 mean | min | eval ECE before → after | s/epoch | s/run | test macro-F1 mean | min |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...table,
    '',
  ].join('\n'),
)
