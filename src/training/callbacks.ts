import {join} from 'node:path'

import {type Selection, TRAINING_DEFAULTS} from '../config.js'
import {writeFileAtomic} from '../util/atomic.js'
import {makeFolder} from '../util/paths.js'
import {type EpochLog, EpochLogSchema, LOGGED_METRICS, METRICS, type MetricInfo, loggedMetrics, progressLine} from '../artifacts/epoch-log.js'
import {UserError} from '../errors.js'
import type {BatchInfo, Callback, TrainableModule, TrainerState} from './trainer.js'

/** A metric of the epoch log, by its logged name, and whether higher or lower is better (Lightning's `monitor` and `mode`). */
export interface Monitor {
  metric: string
  mode: 'min' | 'max'
}

/** A metric monitored the way its declaration says is better. */
export const monitorOf = (metric: MetricInfo): Monitor => ({metric: metric.name, mode: metric.mode})

/** The monitored metric by default: validation macro F1, higher is better (SPEC §3). */
export const DEFAULT_MONITOR: Monitor = monitorOf(METRICS.valF1Macro)

/** The value of a logged metric in an epoch's log; an unknown name is refused where a callback is built. */
export function monitoredValue(metric: string, log: EpochLog): number {
  const value = loggedMetrics(log)[metric]
  if (value === undefined) throw unknownMetric(metric)
  return value
}

const unknownMetric = (metric: string) => new UserError(`cannot monitor "${metric}": it is not a logged metric (${LOGGED_METRICS.join(', ')})`)

/** A monitor whose metric is logged and whose mode is min or max; throws one clear line otherwise. */
export function checkMonitor(monitor: Monitor): Monitor {
  if (!(LOGGED_METRICS as readonly string[]).includes(monitor.metric)) throw unknownMetric(monitor.metric)
  if (monitor.mode !== 'min' && monitor.mode !== 'max')
    throw new UserError(`cannot monitor ${monitor.metric} in mode "${String(monitor.mode)}": the mode is min or max`)
  return monitor
}

/** The best value of each monitored metric so far (absent: none yet). */
export type Best = Record<string, number>

/** The monitored metrics of a `--selection` (see SELECTIONS), first decisive, the rest breaking ties. */
export function selectionMonitors(selection: Selection): readonly Monitor[] {
  const f1 = monitorOf(METRICS.valF1Macro)
  const loss = monitorOf(METRICS.valLoss)
  return {f1: [f1], 'f1-loss': [f1, loss], loss: [loss]}[selection]
}

const worst = (mode: Monitor['mode']): number => (mode === 'max' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY)

/** Is this epoch better than the best so far, under `monitors` (a `--selection` or its monitored metrics)? */
export function improves(monitors: Selection | readonly Monitor[], log: EpochLog, best: Best): boolean {
  for (const {metric, mode} of monitorsOf(monitors)) {
    const value = monitoredValue(metric, log)
    const bestValue = best[metric] ?? worst(mode)
    if (value !== bestValue) return mode === 'max' ? value > bestValue : value < bestValue
  }

  return false
}

const monitorsOf = (monitor: Selection | readonly Monitor[]): readonly Monitor[] => (typeof monitor === 'string' ? selectionMonitors(monitor) : monitor)

/** The monitored metrics, checked; at least one. */
function checkedMonitors(monitor: Selection | readonly Monitor[]): readonly Monitor[] {
  const monitors = monitorsOf(monitor).map((m) => checkMonitor(m))
  if (monitors.length === 0) throw new UserError('a callback needs at least one metric to monitor')
  return monitors
}

const bestOf = (monitors: readonly Monitor[], log: EpochLog): Best => Object.fromEntries(monitors.map(({metric}) => [metric, monitoredValue(metric, log)]))

/** Best values of the monitored metrics as saved in a checkpoint, `{metric: value}`; those not monitored are dropped. */
function readBest(state: Record<string, unknown>, monitors: readonly Monitor[]): Best {
  const saved: Record<string, unknown> = typeof state.best === 'object' && state.best !== null ? (state.best as Record<string, unknown>) : {}
  const best: Best = {}
  for (const {metric} of monitors) {
    const value = saved[metric]
    if (typeof value === 'number') best[metric] = value
  }

  return best
}

/**
 * Early stopping as Lightning's `EarlyStopping(monitor=..., mode=...)`:
 * stop once the metric has not improved for `patience` epochs.
 */
export class EarlyStopping implements Callback {
  readonly name = 'early_stopping'
  private best: Best = {}
  private wait = 0
  private readonly monitors: readonly Monitor[]

  constructor(
    private readonly patience: number = TRAINING_DEFAULTS.earlyStoppingPatience,
    /** The monitored metric and its mode (then tie-breakers); default validation macro F1, max. */
    monitor: Selection | readonly Monitor[] = 'f1',
  ) {
    this.monitors = checkedMonitors(monitor)
  }

  onEpochEnd(state: TrainerState, log: EpochLog): void {
    if (improves(this.monitors, log, this.best)) {
      this.best = bestOf(this.monitors, log)
      this.wait = 0
      return
    }

    this.wait += 1
    if (this.wait >= this.patience) {
      state.shouldStop = true
      const [first, ...ties] = this.monitors
      const what = ties.length > 0 ? `${first.metric} (ties: ${ties.map((m) => m.metric).join(', ')})` : first.metric
      const best = this.best[first.metric] ?? worst(first.mode)
      state.stopReason = `${what} did not improve for ${this.patience} epochs (best ${best.toFixed(4)})`
    }
  }

  stateDict(): Record<string, unknown> {
    return {best: {...this.best}, wait: this.wait}
  }

  loadStateDict(state: Record<string, unknown>): void {
    this.best = readBest(state, this.monitors)
    this.wait = Number(state.wait)
  }
}

/** PyTorch's default relative improvement threshold for ReduceLROnPlateau. */
export const PLATEAU_THRESHOLD = 1e-4

/**
 * PyTorch's `ReduceLROnPlateau(mode, factor, patience)` with its default
 * relative threshold 1e-4: multiply the learning rate by `factor` after more than
 * `patience` epochs without improvement of the monitored metric, then start counting again.
 */
export class ReduceLROnPlateau implements Callback {
  readonly name = 'reduce_lr_on_plateau'
  private best: number
  private bad = 0

  constructor(
    private readonly factor: number = TRAINING_DEFAULTS.lrFactor,
    private readonly patience: number = TRAINING_DEFAULTS.lrPatience,
    private readonly threshold = PLATEAU_THRESHOLD,
    private readonly monitor: Monitor = DEFAULT_MONITOR,
  ) {
    checkMonitor(monitor)
    this.best = worst(monitor.mode)
  }

  private better(value: number): boolean {
    if (this.best === worst(this.monitor.mode)) return true
    return this.monitor.mode === 'max' ? value > this.best * (1 + this.threshold) : value < this.best * (1 - this.threshold)
  }

  onEpochEnd(state: TrainerState, log: EpochLog): void {
    const value = monitoredValue(this.monitor.metric, log)
    if (this.better(value)) {
      this.best = value
      this.bad = 0
      return
    }

    this.bad += 1
    if (this.bad > this.patience) {
      state.module.learningRate *= this.factor
      this.bad = 0
    }
  }

  stateDict(): Record<string, unknown> {
    return {best: this.best, bad: this.bad}
  }

  loadStateDict(state: Record<string, unknown>): void {
    this.best = Number(state.best)
    this.bad = Number(state.bad)
  }
}

/**
 * Lightning's `ModelCheckpoint(monitor=..., mode=..., save_last=True)`:
 * `best.ckpt` whenever the metric improves (see `improves` for ties), `last.ckpt`
 * after every epoch. The trainer assembles and writes the files, and runs this
 * callback after the others, so `last.ckpt` holds every callback's state after the epoch.
 */
export class ModelCheckpoint<M extends TrainableModule = TrainableModule> implements Callback<M> {
  readonly name = 'model_checkpoint'
  readonly savesCheckpoints = true
  bestEpoch = 0
  private best: Best = {}
  private readonly monitors: readonly Monitor[]

  constructor(
    private readonly dir: string,
    /** The monitored metric and its mode (then tie-breakers); default validation macro F1, max. */
    monitor: Selection | readonly Monitor[] = 'f1',
  ) {
    this.monitors = checkedMonitors(monitor)
  }

  get bestPath(): string {
    return join(this.dir, 'best.ckpt')
  }

  get lastPath(): string {
    return join(this.dir, 'last.ckpt')
  }

  async onEpochEnd(state: TrainerState<M>, log: EpochLog): Promise<void> {
    if (improves(this.monitors, log, this.best)) {
      this.best = bestOf(this.monitors, log)
      this.bestEpoch = log.epoch
      await state.saveCheckpoint(this.bestPath, {withOptimizer: false, bestEpoch: this.bestEpoch})
    }

    await state.saveCheckpoint(this.lastPath, {withOptimizer: true, bestEpoch: this.bestEpoch})
  }

  stateDict(): Record<string, unknown> {
    return {best_epoch: this.bestEpoch, best: {...this.best}}
  }

  loadStateDict(state: Record<string, unknown>): void {
    this.bestEpoch = Number(state.best_epoch)
    this.best = readBest(state, this.monitors)
  }
}

const CSV_COLUMNS = ['epoch', ...LOGGED_METRICS] as const

/** Per-epoch logs like Lightning's CSVLogger: `logs/metrics.csv` and `logs/metrics.json`, rewritten whole each epoch. */
export class MetricsLogger implements Callback {
  readonly name = 'metrics_logger'
  constructor(private readonly dir: string) {}

  get csvPath(): string {
    return join(this.dir, 'logs', 'metrics.csv')
  }

  get jsonPath(): string {
    return join(this.dir, 'logs', 'metrics.json')
  }

  async onEpochEnd(state: TrainerState): Promise<void> {
    const rows = state.history.map((log) => EpochLogSchema.parse(log))
    await makeFolder(join(this.dir, 'logs'), 'choose another --output-dir')
    const csv = [CSV_COLUMNS.join(','), ...rows.map((row) => CSV_COLUMNS.map((c) => String(row[c])).join(','))].join('\n')
    await writeFileAtomic(this.csvPath, `${csv}\n`)
    await writeFileAtomic(this.jsonPath, `${JSON.stringify(rows, null, 2)}\n`)
  }
}

/** A progress bar drawn by the caller: the library reports progress and never draws (as `downloadMnist` takes a sink). */
export interface ProgressBar {
  /** The current value (absolute); `detail` follows the counts (running loss, speed, ETA). */
  update(current: number, detail?: string): void
  done(): void
}

export type ProgressBarFactory = (options: {label: string; total: number}) => ProgressBar

/**
 * Progress on stderr: on a terminal a bar per epoch with the running training
 * loss, images per second and the epoch's ETA; one line per epoch otherwise.
 */
export class ProgressReporter implements Callback {
  readonly name = 'progress'
  private bar: ProgressBar | undefined
  private started = 0
  private images = 0
  private lossSum = 0

  constructor(
    private readonly stream: NodeJS.WritableStream & {isTTY?: boolean} = process.stderr,
    private readonly now: () => number = () => performance.now(),
    /** Draws a bar per epoch (the CLI's terminal bar); without one, only the per-epoch lines are written. */
    private readonly progressBar?: ProgressBarFactory,
  ) {}

  onEpochStart(): void {
    this.started = this.now()
    this.images = 0
    this.lossSum = 0
  }

  onBatchEnd(state: TrainerState, info: BatchInfo): void {
    if (info.batch === 1) this.bar = this.progressBar?.({label: `epoch ${info.epoch}/${state.maxEpochs}`, total: info.batches})
    this.images += info.size
    this.lossSum += info.loss * info.size
    const seconds = (this.now() - this.started) / 1000
    this.bar?.update(info.batch, batchDetail(this.lossSum / this.images, this.images, seconds, (seconds / info.batch) * (info.batches - info.batch)))
  }

  onEpochEnd(state: TrainerState, log: EpochLog): void {
    this.bar?.done()
    this.bar = undefined
    this.stream.write(`${progressLine(log, state.maxEpochs)}\n`)
  }

  onFitEnd(state: TrainerState): void {
    if (state.stopReason) this.stream.write(`early stopping: ${state.stopReason}\n`)
  }
}

/** `loss 0.2134  1,840 img/s  ETA 0:02` */
export function batchDetail(runningLoss: number, images: number, seconds: number, etaSeconds: number): string {
  const rate = seconds > 0 ? `${Math.round(images / seconds).toLocaleString('en-US')} img/s` : '– img/s'
  const eta = Math.max(0, Math.round(etaSeconds))
  return `loss ${runningLoss.toFixed(4)}  ${rate}  ETA ${Math.floor(eta / 60)}:${String(eta % 60).padStart(2, '0')}`
}

/** Forwards events to plain functions (the web app's live progress, tests). */
export class HookCallback implements Callback {
  readonly name = 'hooks'
  constructor(private readonly hooks: {onEpochEnd?(log: EpochLog): void; onBatchEnd?(info: BatchInfo): void}) {}
  onBatchEnd(_state: TrainerState, info: BatchInfo): void {
    this.hooks.onBatchEnd?.(info)
  }

  onEpochEnd(_state: TrainerState, log: EpochLog): void {
    this.hooks.onEpochEnd?.(log)
  }
}
