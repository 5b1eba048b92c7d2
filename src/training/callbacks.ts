import {mkdir} from 'node:fs/promises'
import {join} from 'node:path'

import {TRAINING_DEFAULTS} from '../config.js'
import {createProgress, type Progress} from '../cli/progress.js'
import {writeFileAtomic} from '../util/atomic.js'
import {type EpochLog, EpochLogSchema} from './schema.js'
import type {BatchInfo, Callback, TrainerState} from './trainer.js'

/** The monitored metric: validation macro F1, higher is better (SPEC §3). */
const monitor = (log: EpochLog): number => log.valF1Macro

/**
 * Early stopping as Lightning's `EarlyStopping(monitor='val_f1_macro', mode='max')`:
 * stop once the metric has not improved for `patience` epochs.
 */
export class EarlyStopping implements Callback {
  readonly name = 'earlyStopping'
  private best = Number.NEGATIVE_INFINITY
  private wait = 0

  constructor(private readonly patience: number = TRAINING_DEFAULTS.earlyStoppingPatience) {}

  onEpochEnd(state: TrainerState, log: EpochLog): void {
    if (monitor(log) > this.best) {
      this.best = monitor(log)
      this.wait = 0
      return
    }

    this.wait += 1
    if (this.wait >= this.patience) {
      state.shouldStop = true
      state.stopReason = `val_f1_macro did not improve for ${this.patience} epochs (best ${this.best.toFixed(4)})`
    }
  }

  stateDict(): Record<string, unknown> {
    return {best: this.best, wait: this.wait}
  }

  loadStateDict(state: Record<string, unknown>): void {
    this.best = Number(state.best)
    this.wait = Number(state.wait)
  }
}

/**
 * PyTorch's `ReduceLROnPlateau(mode='max', factor, patience)` with its default
 * relative threshold 1e-4: halve the learning rate after `patience` epochs
 * without improvement, then start counting again.
 */
export class ReduceLROnPlateau implements Callback {
  readonly name = 'reduceLROnPlateau'
  private best = Number.NEGATIVE_INFINITY
  private bad = 0

  constructor(
    private readonly factor: number = TRAINING_DEFAULTS.lrFactor,
    private readonly patience: number = TRAINING_DEFAULTS.lrPatience,
    private readonly threshold = 1e-4,
  ) {}

  onEpochEnd(state: TrainerState, log: EpochLog): void {
    const value = monitor(log)
    if (value > this.best * (1 + this.threshold) || this.best === Number.NEGATIVE_INFINITY) {
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

/** What a checkpoint callback needs to write a file; the run assembles it (data, config, normalisation). */
export type SaveCheckpoint = (file: string, state: TrainerState, options: {withOptimizer: boolean; bestEpoch: number; bestValF1Macro: number}) => Promise<void>

/**
 * Lightning's `ModelCheckpoint(monitor='val_f1_macro', mode='max', save_last=True)`:
 * `best.ckpt` whenever the metric improves, `last.ckpt` after every epoch.
 */
export class ModelCheckpoint implements Callback {
  readonly name = 'modelCheckpoint'
  bestEpoch = 0
  bestValF1Macro = Number.NEGATIVE_INFINITY

  constructor(
    private readonly dir: string,
    private readonly save: SaveCheckpoint,
  ) {}

  get bestPath(): string {
    return join(this.dir, 'best.ckpt')
  }

  get lastPath(): string {
    return join(this.dir, 'last.ckpt')
  }

  async onEpochEnd(state: TrainerState, log: EpochLog): Promise<void> {
    if (monitor(log) > this.bestValF1Macro) {
      this.bestValF1Macro = monitor(log)
      this.bestEpoch = log.epoch
      await this.save(this.bestPath, state, {withOptimizer: false, bestEpoch: this.bestEpoch, bestValF1Macro: this.bestValF1Macro})
    }
  }

  /** Last, so `last.ckpt` holds the state of every callback after this epoch. */
  async saveLast(state: TrainerState): Promise<void> {
    await this.save(this.lastPath, state, {withOptimizer: true, bestEpoch: this.bestEpoch, bestValF1Macro: this.bestValF1Macro})
  }

  stateDict(): Record<string, unknown> {
    return {bestEpoch: this.bestEpoch, bestValF1Macro: this.bestValF1Macro}
  }

  loadStateDict(state: Record<string, unknown>): void {
    this.bestEpoch = Number(state.bestEpoch)
    this.bestValF1Macro = Number(state.bestValF1Macro)
  }
}

/** Writes `last.ckpt` after every other callback has run for the epoch. */
export class LastCheckpoint implements Callback {
  readonly name = 'lastCheckpoint'
  constructor(private readonly checkpoint: ModelCheckpoint) {}
  async onEpochEnd(state: TrainerState): Promise<void> {
    await this.checkpoint.saveLast(state)
  }
}

const CSV_COLUMNS = ['epoch', 'trainLoss', 'trainAccuracy', 'valLoss', 'valAccuracy', 'valF1Macro', 'learningRate', 'epochSeconds'] as const

/** Per-epoch logs like Lightning's CSVLogger: `logs/metrics.csv` and `logs/metrics.json`, rewritten whole each epoch. */
export class MetricsLogger implements Callback {
  readonly name = 'metricsLogger'
  constructor(private readonly dir: string) {}

  get csvPath(): string {
    return join(this.dir, 'logs', 'metrics.csv')
  }

  get jsonPath(): string {
    return join(this.dir, 'logs', 'metrics.json')
  }

  async onEpochEnd(state: TrainerState): Promise<void> {
    const rows = state.history.map((log) => EpochLogSchema.parse(log))
    await mkdir(join(this.dir, 'logs'), {recursive: true})
    const csv = [CSV_COLUMNS.join(','), ...rows.map((row) => CSV_COLUMNS.map((c) => String(row[c])).join(','))].join('\n')
    await writeFileAtomic(this.csvPath, `${csv}\n`)
    await writeFileAtomic(this.jsonPath, `${JSON.stringify(rows, null, 2)}\n`)
  }
}

/** Progress on stderr: a bar per epoch on a terminal, one line per epoch otherwise. */
export class ProgressReporter implements Callback {
  readonly name = 'progress'
  private bar: Progress | undefined

  constructor(private readonly stream: NodeJS.WritableStream & {isTTY?: boolean} = process.stderr) {}

  onBatchEnd(state: TrainerState, info: BatchInfo): void {
    if (info.batch === 1) this.bar = createProgress({label: `epoch ${info.epoch}/${state.maxEpochs}`, total: info.batches, unit: 'items', stream: this.stream})
    this.bar?.update(info.batch)
  }

  onEpochEnd(state: TrainerState, log: EpochLog): void {
    this.bar?.done()
    this.bar = undefined
    this.stream.write(
      `epoch ${log.epoch}/${state.maxEpochs}  train_loss ${log.trainLoss.toFixed(4)}  val_loss ${log.valLoss.toFixed(4)}  ` +
        `val_acc ${log.valAccuracy.toFixed(4)}  val_f1_macro ${log.valF1Macro.toFixed(4)}  lr ${log.learningRate.toExponential(2)}  ${log.epochSeconds.toFixed(2)}s\n`,
    )
  }

  onFitEnd(state: TrainerState): void {
    if (state.stopReason) this.stream.write(`early stopping: ${state.stopReason}\n`)
  }
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
