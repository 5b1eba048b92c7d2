/**
 * How well each "one of my digits" score tells the model's own digits from the
 * other digits, on the real MNIST: `npm run bench:openset`.
 *
 * For each seed it trains the SPEC recipe (or takes `--checkpoint` files), then
 * for every score: max softmax without and with the checkpoint's temperature,
 * energy, max logit, and the reject head (the checkpoint's own when it was
 * trained with `--reject other-digits`, else one fitted here the same way, on
 * the training split and the training file's other digits):
 * - choosing (never t10k): AUROC of the validation split (own digits) against
 *   training images of the other digits, which the curated subset never draws;
 * - reporting (t10k): AUROC of t10k's own digits against t10k's other digits;
 *   the false-known rate (share of other digits passed as known) at the
 *   threshold fitted on validation at a 95% known-rate (what `predict` does),
 *   with the known-rate that threshold gives on t10k's own digits; and the
 *   false-known rate at exactly 95% of t10k's own digits.
 *
 *   MNIST_DIR=/work/data npm run bench:openset -- [--seeds 11122025,1,2] [--checkpoint a.ckpt …] [--flags '--augment']
 */
import {rmSync} from 'node:fs'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'
import {parseArgs} from 'node:util'

import {DEFAULT_SEED, PIXELS} from '../src/config.js'
import {loadTestSplit, mnistFilePath, splitTensors} from '../src/data/dataset.js'
import {readIdxPair} from '../src/data/idx.js'
import {Rng} from '../src/data/rng.js'
import type {Split} from '../src/data/split.js'
import {rebuildSplit} from '../src/evaluation/evaluate.js'
import {KNOWN_RATE, fitKnownThreshold, knownRate, knownScores, openSetAuroc, rejectScores} from '../src/evaluation/openset.js'
import {fitRejectHead} from '../src/evaluation/reject-head.js'
import {loadOtherDigits} from '../src/data/dataset.js'
import {REJECT_NEGATIVES} from '../src/training/fit-end.js'
import {loadPredictor, type Predictor} from '../src/model/predictor.js'
import {resolveTrainingConfig} from '../src/training/config.js'
import {runTraining} from '../src/training/run.js'
import {realMnist} from './mnist-data.js'

const {values: args} = parseArgs({
  options: {
    seeds: {type: 'string', default: `${DEFAULT_SEED},1,2`},
    checkpoint: {type: 'string', multiple: true},
    /** Extra training flags as `name=value` pairs, comma-separated (e.g. `augment=true`). */
    flags: {type: 'string', default: ''},
    /** Training images of the other digits used for choosing (a seeded sample). */
    'choose-others': {type: 'string', default: '5000'},
  },
})

const dataDir = await realMnist()
const out = join(import.meta.dirname, '.out', 'openset')
const extraFlags = Object.fromEntries(
  args.flags
    .split(',')
    .filter(Boolean)
    .map((pair) => {
      const [name, value = 'true'] = pair.split('=')
      return [name, value === 'true' ? true : value === 'false' ? false : Number.isNaN(Number(value)) ? value : Number(value)]
    }),
)

async function checkpoints(): Promise<Array<{label: string; path: string}>> {
  if (args.checkpoint) return args.checkpoint.map((path) => ({label: path, path}))
  const list = []
  for (const seed of args.seeds.split(',').map(Number)) {
    const config = resolveTrainingConfig({flags: {...extraFlags, seed, 'run-name': `openset-${seed}`}})
    const outputDir = join(out, `seed-${seed}`)
    rmSync(outputDir, {recursive: true, force: true})
    const sink = new PassThrough()
    sink.resume()
    const summary = await runTraining({config, dataDir, outputDir}, {progress: sink})
    list.push({label: `seed ${seed} (eval macro-F1 ${summary.metrics.eval.f1_macro.toFixed(4)})`, path: join(outputDir, 'best.ckpt')})
  }

  return list
}

const train = await readIdxPair(mnistFilePath(dataDir, 'trainImages'), mnistFilePath(dataDir, 'trainLabels'))
const test = await readIdxPair(mnistFilePath(dataDir, 'testImages'), mnistFilePath(dataDir, 'testLabels'))

/** Images of `labels` not among `classes` (nor in `excluded`): every one, or a seeded sample of `limit`. */
function otherDigits(labels: Uint8Array, classes: readonly number[], limit = Infinity, excluded: ReadonlySet<number> = new Set()): Split {
  const indices: number[] = []
  for (let i = 0; i < labels.length; i++) if (!classes.includes(labels[i]) && !excluded.has(i)) indices.push(i)
  const rng = new Rng(7)
  for (let i = indices.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform(0, i + 1))
    ;[indices[i], indices[j]] = [indices[j], indices[i]]
  }

  const kept = indices.slice(0, Math.min(limit, indices.length)).sort((a, b) => a - b)
  return {indices: kept, labels: kept.map((i) => labels[i])}
}

type Source = {pixels: Uint8Array; count: number; rows: number; cols: number}

/** Logits and features of a split's images. */
async function outputsOf(predictor: Predictor, source: Source, split: Split): Promise<{logits: Float32Array; features: Float32Array; dim: number}> {
  const {x} = splitTensors(source as never, split, predictor.checkpoint.header.normalization, predictor.classes)
  if (x.length !== split.indices.length * PIXELS) throw new Error('unexpected tensor size')
  const {values, dim} = await predictor.features(x)
  return {logits: await predictor.logits(x), features: values, dim}
}

const SCORES = ['max_softmax (T=1)', 'max_softmax (T fitted)', 'energy', 'max_logit', 'reject_head'] as const
type ScoreName = (typeof SCORES)[number]

const percent = (value: number) => `${(value * 100).toFixed(2)}%`
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length
const loadAverage = () => process.getBuiltinModule('node:os').loadavg()[0].toFixed(2)
process.stdout.write(`load average ${loadAverage()} at start\n`)

const totals = new Map<ScoreName, {choose: number[]; test: number[]; falseKnown: number[]; testKnown: number[]; falseKnownAt95: number[]}>()
for (const {label, path} of await checkpoints()) {
  const predictor = await loadPredictor(path, {backend: 'wasm'})
  try {
    const {classes, temperature} = predictor
    const k = classes.length
    const {header} = predictor.checkpoint
    const val = await rebuildSplit(predictor.checkpoint, dataDir, 'val')
    const ownTrain = await rebuildSplit(predictor.checkpoint, dataDir, 'train')
    const negatives = await loadOtherDigits(dataDir, classes, REJECT_NEGATIVES, header.data.seed)
    const ownTest = await loadTestSplit(dataDir, classes)
    const outputs = {
      val: await outputsOf(predictor, val.source, val.split),
      chooseOthers: await outputsOf(
        predictor,
        train.images,
        otherDigits(train.labels, classes, Number(args['choose-others']), new Set(negatives.split.indices)),
      ),
      testOwn: await outputsOf(predictor, ownTest.source, ownTest.split),
      testOthers: await outputsOf(predictor, test.images, otherDigits(test.labels, classes)),
    }
    const stored = header.openSet?.rejectHead
    const head =
      stored ??
      fitRejectHead(
        (await outputsOf(predictor, ownTrain.source, ownTrain.split)).features,
        (await outputsOf(predictor, negatives.source, negatives.split)).features,
        outputs.val.dim,
      )
    process.stdout.write(
      `${label}: classes ${classes.join(',')}, temperature ${temperature.toFixed(4)}, reject head ${stored ? 'from the checkpoint' : 'fitted here'}; validation ${outputs.val.logits.length / k}, training others ${outputs.chooseOthers.logits.length / k}, t10k own ${outputs.testOwn.logits.length / k}, t10k others ${outputs.testOthers.logits.length / k}\n`,
    )
    for (const kind of SCORES) {
      const score = ({logits, features}: {logits: Float32Array; features: Float32Array}) => {
        if (kind === 'reject_head') return rejectScores(features, head)
        if (kind === 'max_softmax (T=1)') return knownScores(logits, k, 'max_softmax', 1)
        if (kind === 'max_softmax (T fitted)') return knownScores(logits, k, 'max_softmax', temperature)
        return knownScores(logits, k, kind, temperature)
      }
      const val = score(outputs.val)
      const threshold = fitKnownThreshold(val)
      const testOwn = score(outputs.testOwn)
      const testOthers = score(outputs.testOthers)
      const row = {
        choose: openSetAuroc(val, score(outputs.chooseOthers)),
        test: openSetAuroc(testOwn, testOthers),
        falseKnown: knownRate(testOthers, threshold),
        testKnown: knownRate(testOwn, threshold),
        falseKnownAt95: knownRate(testOthers, fitKnownThreshold(testOwn, KNOWN_RATE)),
      }
      const total = totals.get(kind) ?? {choose: [], test: [], falseKnown: [], testKnown: [], falseKnownAt95: []}
      for (const key of Object.keys(row) as Array<keyof typeof row>) total[key].push(row[key])
      totals.set(kind, total)
      process.stdout.write(
        `  ${kind.padEnd(22)} choosing AUROC ${row.choose.toFixed(4)} | t10k AUROC ${row.test.toFixed(4)}, false-known ${percent(row.falseKnown)} at the validation threshold (t10k own known ${percent(row.testKnown)}), false-known ${percent(row.falseKnownAt95)} at 95% of t10k own\n`,
      )
    }
  } finally {
    predictor.dispose()
  }
}

process.stdout.write(`== mean over models (load average ${loadAverage()} at end)\n`)
for (const [kind, t] of totals) {
  process.stdout.write(
    `  ${kind.padEnd(22)} choosing AUROC ${mean(t.choose).toFixed(4)} (min ${Math.min(...t.choose).toFixed(4)}) | t10k AUROC ${mean(t.test).toFixed(4)} (min ${Math.min(...t.test).toFixed(4)}), false-known ${percent(mean(t.falseKnown))} (t10k own known ${percent(mean(t.testKnown))}), at 95% of t10k own ${percent(mean(t.falseKnownAt95))}\n`,
  )
}
