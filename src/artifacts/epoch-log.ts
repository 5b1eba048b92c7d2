/**
 * The metrics an epoch logs, declared once: each one's name (its key in
 * logs/metrics.json and logs/metrics.csv, checkpoints, the web app's stream,
 * loss_curves.json and what callbacks monitor, as Lightning's CSV logger names
 * its columns), what it measures, which way is better, and how the progress
 * line and the web page's epoch table show it. The module, the trainer, the
 * callbacks, the artifact builders, the plots and the page read the names from
 * here, so renaming a metric is an edit to this file.
 */
import {z} from 'zod'

/** How a value is written for people: that many decimals, fixed or in exponent notation. */
export type Notation = {fixed: number} | {exponential: number}

export function formatValue(value: number, notation: Notation): string {
  return 'fixed' in notation ? value.toFixed(notation.fixed) : value.toExponential(notation.exponential)
}

/** The values a metric takes: what every schema holding it checks. */
export type MetricRange = 'real' | 'probability' | 'positive' | 'nonnegative'

export interface MetricInfo {
  /** The one spelling of the metric. */
  name: string
  /** What it measures, in words (the web page's column tooltips, docs/web-api.md). */
  description: string
  /** Which way is better, for a callback that monitors it (Lightning's `mode`). */
  mode: 'min' | 'max'
  range: MetricRange
  /** In words, where a plot's legend names it. */
  title: string
  /**
   * A list per epoch in loss_curves.json: `note`, what its schema says of it; `alias`, the original demo's
   * name for the same list, written just before it.
   */
  curve?: {note?: string; alias?: string}
  /** In the progress line: its label there (the name unless given; empty: none), its notation and a unit after the value. */
  progress?: {label?: string; notation: Notation; unit?: string}
  /** A column of the web page's epoch table; `wide`: only on wide screens. */
  column?: {label: string; notation: Notation; wide?: boolean}
}

const FOUR_PLACES: Notation = {fixed: 4}

/** Every logged metric, in the order of the log's keys and the CSV's columns. */
export const METRICS = {
  trainLoss: {
    name: 'train_loss',
    description: 'mean class-weighted cross-entropy of the epoch’s training steps',
    mode: 'min',
    range: 'real',
    title: 'train loss',
    curve: {},
    progress: {notation: FOUR_PLACES},
    column: {label: 'Train loss', notation: FOUR_PLACES},
  },
  trainAccuracy: {
    name: 'train_accuracy',
    description: 'share of training images classified correctly during the epoch, as the steps saw them',
    mode: 'max',
    range: 'probability',
    title: 'train accuracy',
    curve: {},
  },
  valLoss: {
    name: 'val_loss',
    description: 'mean class-weighted cross-entropy on the validation split',
    mode: 'min',
    range: 'real',
    title: 'validation loss',
    curve: {},
    progress: {notation: FOUR_PLACES},
    column: {label: 'Val loss', notation: FOUR_PLACES},
  },
  valBalancedAccuracy: {
    name: 'val_balanced_accuracy',
    description: 'balanced accuracy on the validation split: the mean of per-class recall, so every class counts the same (SPEC §3)',
    mode: 'max',
    range: 'probability',
    title: 'validation balanced accuracy',
    curve: {
      note: 'balanced accuracy: the mean of per-class recalls',
      alias: 'val_accuracy',
    },
    progress: {notation: FOUR_PLACES},
    column: {label: 'Val bal. acc', notation: FOUR_PLACES},
  },
  valF1Macro: {
    name: 'val_f1_macro',
    description: 'macro-averaged F1 on the validation split',
    mode: 'max',
    range: 'probability',
    title: 'validation macro-F1',
    curve: {},
    progress: {notation: FOUR_PLACES},
    column: {label: 'Val macro-F1', notation: FOUR_PLACES},
  },
  learningRate: {
    name: 'learning_rate',
    description: 'the learning rate the epoch trained with',
    mode: 'min',
    range: 'positive',
    title: 'learning rate',
    progress: {label: 'lr', notation: {exponential: 2}},
    column: {label: 'LR', notation: {exponential: 1}, wide: true},
  },
  epochSeconds: {
    name: 'epoch_seconds',
    description: 'wall time of the epoch, training and validation, in seconds',
    mode: 'min',
    range: 'nonnegative',
    title: 'seconds',
    progress: {label: '', notation: {fixed: 2}, unit: 's'},
    column: {label: 'Seconds', notation: {fixed: 1}, wide: true},
  },
} as const satisfies Record<string, MetricInfo>

export type MetricKey = keyof typeof METRICS
export type MetricName = (typeof METRICS)[MetricKey]['name']

/** The metrics in declaration order. */
export const METRIC_LIST: readonly MetricInfo[] = Object.values(METRICS)

/** The names of the logged metrics (what callbacks may monitor). */
export const LOGGED_METRICS: readonly MetricName[] = METRIC_LIST.map((metric) => metric.name as MetricName)

const RANGE_SCHEMAS: Record<MetricRange, () => z.ZodNumber> = {
  real: () => z.number(),
  probability: () => z.number().min(0).max(1),
  positive: () => z.number().positive(),
  nonnegative: () => z.number().nonnegative(),
}

/** The schema of one value of a metric. */
export function metricValueSchema(metric: MetricInfo): z.ZodNumber {
  return RANGE_SCHEMAS[metric.range]()
}

/** Each of `metrics` by name, with the schema `of` gives it, in their order. */
export function metricShape<N extends string, S extends z.ZodType>(
  metrics: ReadonlyArray<MetricInfo & {name: N}>,
  of: (metric: MetricInfo) => S,
): Record<N, S> {
  return Object.fromEntries(metrics.map((metric) => [metric.name, of(metric)])) as Record<N, S>
}

export const EpochLogSchema = z.object({epoch: z.number().int().positive(), ...metricShape(Object.values(METRICS), metricValueSchema)})
export type EpochLog = z.infer<typeof EpochLogSchema>

/** What a step or the trainer logs: values by metric name (Lightning's `self.log(name, value)`). */
export type Logged = Partial<Record<MetricName, number>>

/**
 * The epoch's log from everything logged for it, in declaration order. A name that is not
 * declared here, or a declared metric nobody logged, is a programming error.
 */
export function epochLog(epoch: number, ...logged: Logged[]): EpochLog {
  const values: Record<string, number> = Object.assign({}, ...logged)
  const unknown = Object.keys(values).find((name) => !(LOGGED_METRICS as string[]).includes(name))
  if (unknown) throw new Error(`${unknown} was logged but is not declared in METRICS (src/artifacts/epoch-log.ts)`)
  const missing = LOGGED_METRICS.find((name) => values[name] === undefined)
  if (missing) throw new Error(`no value was logged for ${missing} this epoch`)
  return {epoch, ...Object.fromEntries(LOGGED_METRICS.map((name) => [name, values[name]]))} as EpochLog
}

/** The metrics an epoch logs, by name (what callbacks may monitor). */
export function loggedMetrics(log: EpochLog): Record<string, number> {
  const {epoch: _epoch, ...metrics} = log
  return metrics
}

/** The line the progress callback writes after an epoch, `epoch 3/12  train_loss 0.1234  …  lr 1.00e-3  4.56s`. */
export function progressLine(log: EpochLog, maxEpochs: number): string {
  const parts = METRIC_LIST.flatMap(({name, progress}) => {
    if (!progress) return []
    const value = `${formatValue(log[name as MetricName], progress.notation)}${progress.unit ?? ''}`
    const label = progress.label ?? name
    return [label === '' ? value : `${label} ${value}`]
  })
  return [`epoch ${log.epoch}/${maxEpochs}`, ...parts].join('  ')
}

/** The web page's epoch table: a column per metric it shows, as `GET /api/train/status` sends them. */
export function epochColumns(): Array<{name: string; label: string; description: string; notation: Notation; wide: boolean}> {
  return METRIC_LIST.flatMap(({name, description, column}) =>
    column ? [{name, label: column.label, description, notation: column.notation, wide: column.wide ?? false}] : [],
  )
}
