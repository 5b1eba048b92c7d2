import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {type ClassLabel, DEFAULT_CLASS_COUNTS, DEFAULT_EVAL_RATIO, DEFAULT_SEED, DEFAULT_VAL_RATIO, MNIST_FILES, MNIST_RAW_FILES, PIXELS} from '../config.js'
import {UserError} from '../errors.js'
import {type IdxImages, prefetchIdx, readIdxPair} from './idx.js'
import {Rng} from './rng.js'
import {
  type ClassCounts,
  type Split,
  type SplitName,
  SPLIT_NAMES,
  availableCounts,
  countByClass,
  countedClasses,
  curateSubset,
  fingerprint,
  stratifiedSplit,
} from './split.js'

export interface DatasetOptions {
  dataDir: string
  seed?: number
  evalRatio?: number
  valRatio?: number
  /** Images per class; its keys are the classes. */
  classCounts?: ClassCounts
  /** Without `classCounts`: every training image of each of these classes. Without either: the SPEC subset. */
  classes?: readonly ClassLabel[]
}

export interface CuratedDataset {
  /** The MNIST training images the subset is drawn from. */
  source: IdxImages
  splits: Record<SplitName, Split>
  fingerprints: Record<SplitName, string>
  seed: number
  evalRatio: number
  valRatio: number
  classCounts: ClassCounts
  /** The digits of the subset, ascending: the keys of `classCounts`. */
  classes: ClassLabel[]
}

/**
 * Where one MNIST file is in a folder: its gzipped official name, else its raw
 * name (as torchvision keeps them, and as the npm source delivers them). When
 * neither exists, the gzipped name, so the error names what download-data writes.
 */
export function mnistFilePath(dataDir: string, file: keyof typeof MNIST_FILES): string {
  const gzipped = join(dataDir, MNIST_FILES[file].name)
  if (existsSync(gzipped)) return gzipped
  const raw = join(dataDir, MNIST_RAW_FILES[file].name)
  return existsSync(raw) ? raw : gzipped
}

/** Start reading the MNIST training files of `dataDir` for the `loadCuratedDataset` that follows (see `prefetchIdx`). */
export function prefetchTrainingFiles(dataDir: string): void {
  prefetchIdx(mnistFilePath(dataDir, 'trainImages'))
  prefetchIdx(mnistFilePath(dataDir, 'trainLabels'))
}

/** Read the MNIST training files in `dataDir` and build the curated, split subset (SPEC §1). */
export async function loadCuratedDataset(options: DatasetOptions): Promise<CuratedDataset> {
  const seed = options.seed ?? DEFAULT_SEED
  const evalRatio = options.evalRatio ?? DEFAULT_EVAL_RATIO
  const valRatio = options.valRatio ?? DEFAULT_VAL_RATIO
  const {images, labels} = await readIdxPair(mnistFilePath(options.dataDir, 'trainImages'), mnistFilePath(options.dataDir, 'trainLabels'))
  const classCounts = options.classCounts ?? (options.classes ? availableCounts(labels, options.classes) : {...DEFAULT_CLASS_COUNTS})
  return buildCuratedDataset(images, labels, {seed, evalRatio, valRatio, classCounts})
}

export function buildCuratedDataset(
  source: IdxImages,
  labels: Uint8Array,
  options: {seed: number; evalRatio: number; valRatio: number; classCounts: ClassCounts},
): CuratedDataset {
  const subset = curateSubset(labels, options.classCounts, new Rng(options.seed), options)
  const splits = stratifiedSplit(subset, options)
  const fingerprints = Object.fromEntries(SPLIT_NAMES.map((name) => [name, fingerprint(splits[name], source.pixels)])) as Record<SplitName, string>
  return {source, splits, fingerprints, ...options, classes: countedClasses(options.classCounts)}
}

/** The official t10k set's image count (its raw file: a 16-byte header, then the images). */
const OFFICIAL_TEST_IMAGES = (MNIST_RAW_FILES.testImages.bytes - 16) / PIXELS

/** Every image of the official MNIST test set (t10k) of the given classes, in file order. */
export async function loadTestSplit(dataDir: string, classes: readonly ClassLabel[]): Promise<{source: IdxImages; split: Split; fingerprint: string}> {
  const {images, labels} = await readIdxPair(mnistFilePath(dataDir, 'testImages'), mnistFilePath(dataDir, 'testLabels'))
  // Scores on any other file would be reported as the official test set's (swapped files would report on training data).
  if (images.count !== OFFICIAL_TEST_IMAGES) {
    throw new UserError(
      `${MNIST_FILES.testImages.name} in ${dataDir} holds ${images.count.toLocaleString('en-US')} images, not the ${OFFICIAL_TEST_IMAGES.toLocaleString('en-US')} of the official MNIST test set (are the training and test files swapped?); run download-data --data-dir ${dataDir} again`,
    )
  }

  const split: Split = {indices: [], labels: []}
  for (let i = 0; i < labels.length; i++) {
    if (classes.includes(labels[i])) {
      split.indices.push(i)
      split.labels.push(labels[i])
    }
  }

  if (split.indices.length === 0) throw new UserError(`${MNIST_FILES.testLabels.name} holds no images of classes ${classes.join(', ')}`)
  return {source: images, split, fingerprint: fingerprint(split, images.pixels)}
}

/**
 * Images of the MNIST training file whose digit is not among `classes`: the
 * negatives a reject head is fitted on. The curated subset draws only
 * `classes`, and t10k is another file, so none of them is ever evaluated.
 * A sample of `limit` (shuffled by its own generator of `seed`, so it draws
 * nothing from any other stream), in file order.
 */
export async function loadOtherDigits(
  dataDir: string,
  classes: readonly ClassLabel[],
  limit: number,
  seed: number,
): Promise<{source: IdxImages; split: Split}> {
  const {images, labels} = await readIdxPair(mnistFilePath(dataDir, 'trainImages'), mnistFilePath(dataDir, 'trainLabels'))
  const indices: number[] = []
  for (let i = 0; i < labels.length; i++) if (!classes.includes(labels[i])) indices.push(i)
  if (indices.length === 0) throw new UserError(`${MNIST_FILES.trainLabels.name} holds no digits other than ${classes.join(', ')}`)
  const rng = new Rng(seed)
  for (let i = indices.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1))
    ;[indices[i], indices[j]] = [indices[j], indices[i]]
  }

  const kept = indices.slice(0, Math.min(limit, indices.length)).sort((a, b) => a - b)
  return {source: images, split: {indices: kept, labels: kept.map((i) => labels[i])}}
}

export interface Normalization {
  method: 'standardize'
  mean: number
  std: number
}

/** Mean and standard deviation of pixel values in [0, 1], over one split (the training split: no leakage). */
export function computeNormalization(source: IdxImages, split: Split): Normalization {
  let sum = 0
  let sumSquares = 0
  // Locals rather than property reads in the loop: it runs once, mostly before the optimising compiler has seen it.
  const {pixels} = source
  for (const index of split.indices) {
    const offset = index * PIXELS
    for (let p = 0; p < PIXELS; p++) {
      const v = pixels[offset + p] / 255
      sum += v
      sumSquares += v * v
    }
  }

  const n = split.indices.length * PIXELS
  const mean = sum / n
  const std = Math.sqrt(Math.max(sumSquares / n - mean * mean, 0))
  if (!(std > 0)) throw new UserError('the training split has constant pixels; it cannot be normalised')
  return {method: 'standardize', mean, std}
}

/** Images of a split as one normalised float array [N × 784], and class indices (0..K−1) into `classes`. */
export function splitTensors(source: IdxImages, split: Split, normalization: Normalization, classes: readonly ClassLabel[]): {x: Float32Array; y: Int32Array} {
  const x = new Float32Array(split.indices.length * PIXELS)
  const y = new Int32Array(split.indices.length)
  const scale = 1 / (255 * normalization.std)
  const shift = normalization.mean / normalization.std
  const {pixels} = source
  const {indices, labels} = split
  for (let row = 0; row < indices.length; row++) {
    const offset = indices[row] * PIXELS
    const out = row * PIXELS
    for (let p = 0; p < PIXELS; p++) x[out + p] = pixels[offset + p] * scale - shift
    y[row] = classes.indexOf(labels[row])
  }

  return {x, y}
}

export function describeSplits(dataset: CuratedDataset): Record<SplitName, {size: number; per_class: Record<string, number>; fingerprint: string}> {
  return Object.fromEntries(
    SPLIT_NAMES.map((name) => [
      name,
      {
        size: dataset.splits[name].indices.length,
        per_class: countByClass(dataset.splits[name].labels, dataset.classes),
        fingerprint: dataset.fingerprints[name],
      },
    ]),
  ) as Record<SplitName, {size: number; per_class: Record<string, number>; fingerprint: string}>
}
