/**
 * Cost of `--augment` and `--ema-decay` on the training hot path: `npx tsx bench/augment.ts`.
 *
 * Trains the SPEC recipe's CNN on the training split, alternating a plain epoch,
 * an augmented one (the same batches, each distorted before the step, as
 * the trainer does) and one of a module that averages its weights after every
 * step, and prints each epoch's seconds and the median ratios to the plain
 * epoch. Rounds alternate so a machine shared with other work slows all alike.
 *
 *   npx tsx bench/augment.ts [--data-dir DIR] [--rounds 3] [--threads 1]
 */
import {parseArgs} from 'node:util'

import {DEFAULT_CLASSES, PIXELS} from '../src/config.js'
import {augmentBatch, augmentRng} from '../src/data/augment.js'
import {Rng} from '../src/data/rng.js'
import {describeNetwork} from '../src/architecture.js'
import {selectBackend} from '../src/engine/backend.js'
import {WeightAveraging} from '../src/training/averaging.js'
import {DigitModule} from '../src/training/module.js'
import {prepareData} from '../src/training/run.js'
import {median} from './common.js'
import {FIXTURE_DIR} from '../test/helpers/fixtures.js'

const {values: args} = parseArgs({
  options: {
    'data-dir': {type: 'string'},
    rounds: {type: 'string', default: '3'},
    threads: {type: 'string', default: '1'},
  },
})

const fixtures = args['data-dir'] === undefined
const data = await prepareData(args['data-dir'] ?? FIXTURE_DIR, {
  classes: [...DEFAULT_CLASSES],
  seed: 11_122_025,
  eval_ratio: 0.2,
  val_ratio: 0.15,
  class_counts: fixtures ? {8: 350, 0: 120, 5: 30} : {8: 3500, 0: 1200, 5: 300},
})
const backend = await selectBackend('wasm', {threads: Number(args.threads), training: true})
const train = data.tensors.train
const n = train.y.length
const batchSize = 32
const fill = -data.normalization.mean / data.normalization.std
const module = new DigitModule(describeNetwork('cnn', data.dataset.classes.length), {seed: 1, learningRate: 1e-3, classWeights: data.classWeights})
const averaged = new DigitModule(describeNetwork('cnn', data.dataset.classes.length), {seed: 1, learningRate: 1e-3, classWeights: data.classWeights})
// The callback `--ema-decay 0.99` adds, driven by hand as the trainer drives it after every batch.
const averaging = new WeightAveraging(0.99)
averaging.onFitStart({module: averaged})

function epoch(number: number, augment: boolean, trained = module): number {
  const started = performance.now()
  const order = new Rng(1).fork(number).shuffle(Array.from({length: n}, (_, i) => i))
  const distort = augmentRng(1, number)
  const x = new Float32Array(batchSize * PIXELS)
  const y = new Int32Array(batchSize)
  const scratch = new Float32Array(PIXELS)
  for (let b = 0; b * batchSize < n; b++) {
    const rows = order.slice(b * batchSize, (b + 1) * batchSize)
    for (const [i, row] of rows.entries()) {
      x.set(train.x.subarray(row * PIXELS, (row + 1) * PIXELS), i * PIXELS)
      y[i] = train.y[row]
    }

    if (augment) augmentBatch(x, rows.length, distort, fill, undefined, scratch)
    trained.trainingStep(x.subarray(0, rows.length * PIXELS), y.subarray(0, rows.length))
    if (trained === averaged) averaging.onBatchEnd({module: averaged})
  }

  return (performance.now() - started) / 1000
}

// Distortion alone, over one epoch's images: the median of three passes (the first includes compilation).
const alone = Float32Array.from(train.x)
const passes: number[] = []
for (let pass = 1; pass <= 3; pass++) {
  const t0 = performance.now()
  augmentBatch(alone, n, augmentRng(1, pass), fill)
  passes.push((performance.now() - t0) / 1000)
}

const distortSeconds = median(passes)

epoch(0, false) // warm-up: wasm compilation, XNNPACK set-up
epoch(0, false, averaged)
const ratios: number[] = []
const averageRatios: number[] = []
const plains: number[] = []
for (let round = 1; round <= Number(args.rounds); round++) {
  const plain = epoch(2 * round, false)
  const augmented = epoch(2 * round + 1, true)
  const withAverage = epoch(2 * round, false, averaged)
  ratios.push(augmented / plain)
  averageRatios.push(withAverage / plain)
  plains.push(plain)
  console.log(
    `round ${round}: plain ${plain.toFixed(3)} s, augmented ${augmented.toFixed(3)} s (×${(augmented / plain).toFixed(3)}), weight averaging ${withAverage.toFixed(3)} s (×${(withAverage / plain).toFixed(3)})`,
  )
}

console.log(
  `${n} training images of ${DEFAULT_CLASSES.length} classes, batch ${batchSize}, backend ${backend.name} (${backend.threads} thread${backend.threads === 1 ? '' : 's'})`,
)
console.log(`distortion alone: ${(distortSeconds * 1000).toFixed(1)} ms per epoch (${((distortSeconds / n) * 1e6).toFixed(1)} µs per image)`)
console.log(`median plain epoch: ${median(plains).toFixed(3)} s; distortion alone / plain epoch: ${((distortSeconds / median(plains)) * 100).toFixed(1)}%`)
console.log(`median augmented/plain epoch: ×${median(ratios).toFixed(3)}`)
console.log(`median weight-averaging/plain epoch: ×${median(averageRatios).toFixed(3)}`)
module.dispose()
averaged.dispose()
