import {createHash} from 'node:crypto'

import {type ClassLabel, DEFAULT_CLASS_COUNTS, DEFAULT_EVAL_RATIO, DEFAULT_VAL_RATIO, PIXELS, SPLIT_NAMES, type SplitName} from '../config.js'
import {UserError} from '../errors.js'
import {Rng} from './rng.js'

/** Images per class, keyed by digit. */
export type ClassCounts = Record<ClassLabel, number>
export {SPLIT_NAMES, type SplitName} from '../config.js'

/** The default counts as text, for examples in messages. */
const example = () => formatClassCounts(DEFAULT_CLASS_COUNTS)

/**
 * Parse LABEL=COUNT pairs (`--class-counts`) of digits 0–9, each once, positive
 * counts. With `classes`, exactly those digits (the model's).
 */
export function parseClassCounts(text: string, classes?: readonly ClassLabel[]): ClassCounts {
  const counts: ClassCounts = {}
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const match = /^(\d+)\s*=\s*(\d+)$/.exec(part)
    if (!match) throw new UserError(`"${part}" is not LABEL=COUNT (e.g. ${example()}), nor "all"`, {setting: 'class_counts'})
    const label = Number(match[1])
    const count = Number(match[2])
    if (label > 9) throw new UserError(`${label} is not a digit 0–9`, {setting: 'class_counts'})
    if (classes && !classes.includes(label)) {
      throw new UserError(`class ${label} is not one of the classes ${classes.join(', ')} (the classes setting chooses them)`, {setting: 'class_counts'})
    }

    if (counts[label] !== undefined) throw new UserError(`class ${label} is given twice`, {setting: 'class_counts'})
    if (count < 1) throw new UserError(`class ${label} needs at least 1 image`, {setting: 'class_counts'})
    counts[label] = count
  }

  if (Object.keys(counts).length === 0) throw new UserError(`give LABEL=COUNT for each class (e.g. ${example()}), or "all"`, {setting: 'class_counts'})
  if (classes) checkClassCounts(counts, classes)
  return counts
}

/** The counts name exactly the classes. */
export function checkClassCounts(counts: ClassCounts, classes: readonly ClassLabel[]): void {
  const extra = Object.keys(counts)
    .map(Number)
    .filter((label) => !classes.includes(label))
  if (extra.length > 0)
    throw new UserError(`class ${extra.join(', ')} is not one of the classes ${classes.join(', ')} (the classes setting chooses them)`, {
      setting: 'class_counts',
    })
  const missing = classes.filter((c) => counts[c] === undefined)
  if (missing.length > 0) throw new UserError(`missing class ${missing.join(', ')} (give all of ${classes.join(', ')}, or "all")`, {setting: 'class_counts'})
}

/** The classes the counts are for, ascending. */
export function countedClasses(counts: ClassCounts): ClassLabel[] {
  return Object.keys(counts)
    .map(Number)
    .sort((a, b) => a - b)
}

export function formatClassCounts(counts: ClassCounts): string {
  return countedClasses(counts)
    .map((label) => `${label}=${counts[label]}`)
    .join(',')
}

export interface Ratios {
  evalRatio: number
  valRatio: number
}

const DEFAULT_RATIOS: Ratios = {evalRatio: DEFAULT_EVAL_RATIO, valRatio: DEFAULT_VAL_RATIO}

/**
 * The fewest images of a class that keep at least one for training once the
 * evaluation and validation splits have taken their share (each takes at most
 * the ceiling of its ratio, see {@link allocate}): 3 at the default ratios.
 */
export function minimumClassCount({evalRatio, valRatio}: Ratios = DEFAULT_RATIOS): number {
  for (let n = 1; ; n++) {
    const rest = n - Math.ceil(n * evalRatio - 1e-9)
    if (rest - Math.ceil(rest * valRatio - 1e-9) >= 1) return n
  }
}

/**
 * Counts in the proportions of `wanted` that every class can supply: all scaled
 * by the largest factor (≤ 1) the scarcest class allows, each at least the
 * {@link minimumClassCount} the ratios need, so the suggestion itself trains.
 * Undefined when a class holds fewer images than that minimum.
 */
export function suggestClassCounts(wanted: ClassCounts, available: ClassCounts, ratios: Ratios = DEFAULT_RATIOS): ClassCounts | undefined {
  const classes = countedClasses(wanted)
  const minimum = minimumClassCount(ratios)
  if (classes.some((label) => !(available[label] >= minimum))) return undefined
  const factor = Math.min(1, ...classes.map((label) => available[label] / wanted[label]))
  return Object.fromEntries(
    classes.map((label) => [label, Math.min(available[label], Math.max(minimum, Math.floor(wanted[label] * factor + 1e-9)))]),
  ) as ClassCounts
}

/** How many images of each class `labels` holds. */
export function availableCounts(labels: Uint8Array, classes: readonly ClassLabel[]): ClassCounts {
  const counts: ClassCounts = Object.fromEntries(classes.map((label) => [label, 0]))
  for (const label of labels) if (counts[label] !== undefined) counts[label] += 1
  return counts
}

/**
 * Asked for more images of a class than the data holds; `shortfall` says which,
 * and `suggestion` is counts in the same proportions that the data can supply
 * (none when a class is too scarce), for the front end that can use them.
 */
export class NotEnoughImages extends UserError {
  constructor(
    message: string,
    readonly shortfall: string,
    readonly suggestion: ClassCounts | undefined,
  ) {
    super(message, {code: 'not-enough-images', setting: 'class_counts'})
    this.name = 'NotEnoughImages'
  }
}

/**
 * Draw the curated subset: for each class (ascending), its indices in the
 * source in file order, shuffled by a generator forked from the seed, first
 * `count` taken. The classes are the keys of `counts`.
 */
export function curateSubset(labels: Uint8Array, counts: ClassCounts, rng: Rng, ratios: Ratios = DEFAULT_RATIOS): Map<ClassLabel, number[]> {
  const classes = countedClasses(counts)
  const byClass = new Map<ClassLabel, number[]>(classes.map((c) => [c, []]))
  for (let i = 0; i < labels.length; i++) byClass.get(labels[i])?.push(i)
  const available = Object.fromEntries(classes.map((label) => [label, byClass.get(label)!.length])) as ClassCounts
  const short = classes.filter((label) => counts[label] > available[label])
  if (short.length > 0) {
    const what = short.map((label) => `class ${label}: ${counts[label]} asked, ${available[label]} held`).join('; ')
    const suggestion = suggestClassCounts(counts, available, ratios)
    const scarce = classes.find((label) => available[label] === 0) ?? classes.find((label) => available[label] < minimumClassCount(ratios))!
    const fix = suggestion
      ? `e.g. ${formatClassCounts(suggestion)} fits (the same proportions, within what every class holds), or all`
      : available[scarce] === 0
        ? `the data has no image of class ${scarce}: use the full MNIST (download-data)`
        : `the data holds ${available[scarce]} image${available[scarce] === 1 ? '' : 's'} of class ${scarce}, fewer than the ${minimumClassCount(ratios)} the three splits need: use the full MNIST (download-data)`
    throw new NotEnoughImages(`the class counts ask for more images than the data holds (${what}); ${fix}`, what, suggestion)
  }

  const chosen = new Map<ClassLabel, number[]>()
  for (const label of classes)
    chosen.set(
      label,
      rng
        .fork(label)
        .shuffle([...byClass.get(label)!])
        .slice(0, counts[label]),
    )

  return chosen
}

/**
 * How many of each class go to the held-out part: ceil(ratio × total) overall
 * (as scikit-learn's train_test_split), spread over classes by largest remainder
 * so the proportions are kept.
 */
export function allocate(sizes: number[], ratio: number): number[] {
  const total = sizes.reduce((a, b) => a + b, 0)
  const target = Math.ceil(ratio * total - 1e-9)
  const exact = sizes.map((n) => n * ratio)
  const counts = exact.map((x) => Math.floor(x + 1e-9))
  let remaining = target - counts.reduce((a, b) => a + b, 0)
  const order = exact.map((x, i) => ({i, frac: x - counts[i]})).sort((a, b) => b.frac - a.frac || a.i - b.i)
  for (const {i} of order) {
    if (remaining <= 0) break
    if (counts[i] < sizes[i]) {
      counts[i] += 1
      remaining -= 1
    }
  }

  return counts
}

export interface SplitOptions {
  seed: number
  evalRatio: number
  valRatio: number
}

export interface Split {
  /** Indices into the source file, in training order. */
  indices: number[]
  /** Class label of each index. */
  labels: ClassLabel[]
}

export function validateRatios(evalRatio: number, valRatio: number): void {
  for (const [setting, value] of [
    ['eval_ratio', evalRatio],
    ['val_ratio', valRatio],
  ] as const) {
    if (!(value > 0 && value < 1)) throw new UserError(`must be between 0 and 1 (exclusive), got ${value}`, {setting})
  }
}

/**
 * Two-stage stratified split: evaluation held out first, then validation from
 * the rest, the remainder is training. Each split keeps the class proportions.
 */
export function stratifiedSplit(subset: Map<ClassLabel, number[]>, options: SplitOptions): Record<SplitName, Split> {
  validateRatios(options.evalRatio, options.valRatio)
  const rng = new Rng(options.seed).fork(0x5b_11_7)
  const parts: Record<SplitName, Split> = {train: {indices: [], labels: []}, val: {indices: [], labels: []}, eval: {indices: [], labels: []}}
  const classes = [...subset.keys()]
  const pools = classes.map((c) => rng.shuffle([...subset.get(c)!]))
  const evalCounts = allocate(
    pools.map((p) => p.length),
    options.evalRatio,
  )
  const rest = pools.map((p, i) => p.slice(evalCounts[i]))
  const valCounts = allocate(
    rest.map((p) => p.length),
    options.valRatio,
  )
  for (const [i, label] of classes.entries()) {
    const take = (split: SplitName, indices: number[]) => {
      for (const index of indices) {
        parts[split].indices.push(index)
        parts[split].labels.push(label)
      }
    }

    take('eval', pools[i].slice(0, evalCounts[i]))
    take('val', rest[i].slice(0, valCounts[i]))
    take('train', rest[i].slice(valCounts[i]))
  }

  for (const name of SPLIT_NAMES) {
    if (parts[name].indices.length === 0) {
      throw new UserError(
        `the ${name} split would be empty with the evaluation ratio ${options.evalRatio} and the validation ratio ${options.valRatio}; use more data or other ratios`,
      )
    }

    // Interleave classes so a split read in order is not sorted by class.
    shuffleTogether(parts[name], rng)
  }

  for (const [i, label] of classes.entries()) {
    if (rest[i].length - valCounts[i] === 0) throw new UserError(`class ${label} has no training images with these ratios; use more data or other ratios`)
  }

  return parts
}

function shuffleTogether(split: Split, rng: Rng): void {
  const order = rng.shuffle(split.indices.map((_, i) => i))
  split.indices = order.map((i) => split.indices[i])
  split.labels = order.map((i) => split.labels[i])
}

/**
 * Identifies a split: SHA-256 over each chosen index, its label and its pixels,
 * so different data or different options give a different fingerprint.
 */
export function fingerprint(split: Split, pixels: Uint8Array): string {
  // The records laid end to end and hashed at once: the same digest as one update per record, without the calls.
  const record = 5 + PIXELS
  const bytes = Buffer.allocUnsafe(split.indices.length * record)
  for (const [i, index] of split.indices.entries()) {
    const at = i * record
    bytes.writeUInt32LE(index, at)
    bytes.writeUInt8(split.labels[i], at + 4)
    bytes.set(pixels.subarray(index * PIXELS, (index + 1) * PIXELS), at + 5)
  }

  return createHash('sha256').update(bytes).digest('hex').slice(0, 16)
}

export function countByClass(labels: readonly number[], classes: readonly ClassLabel[]): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(classes.map((c) => [String(c), 0]))
  for (const label of labels) counts[String(label)] += 1
  return counts
}
