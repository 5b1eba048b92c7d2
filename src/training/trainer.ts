import {PIXELS} from '../config.js'
import {AUGMENT_DEFAULTS, augmentBatch, augmentRng} from '../data/augment.js'
import {Rng} from '../data/rng.js'
import type {EpochLog} from '../artifacts/epoch-log.js'
import type {Batchable, StepOutput, ValidationMetrics} from './module.js'

/**
 * What the loop needs of a module (Lightning's `LightningModule`): one optimiser
 * step on a batch, the validation metrics of a split, and a learning rate callbacks may change.
 * `DigitModule` is the real one; tests pass small fakes.
 */
export interface TrainableModule {
  learningRate: number
  trainingStep(x: Float32Array, y: Int32Array): StepOutput
  validationStep(data: Batchable): ValidationMetrics
}

/** What callbacks see and may change: the loop's state, Lightning's `trainer`. */
export interface TrainerState<M extends TrainableModule = TrainableModule> {
  readonly module: M
  readonly maxEpochs: number
  /** Epochs completed so far (1-based number of the last finished epoch). */
  epoch: number
  history: EpochLog[]
  /** Set by a callback (early stopping) to end training after this epoch. */
  shouldStop: boolean
  stopReason?: string
}

export interface BatchInfo {
  epoch: number
  batch: number
  batches: number
  /** Images in this batch (the last may be smaller). */
  size: number
  loss: number
}

/**
 * Hooks called by name, in the order the callbacks were given. A new
 * behaviour is a new callback, never an edit to the loop.
 */
export interface Callback<M extends TrainableModule = TrainableModule> {
  readonly name: string
  onFitStart?(state: TrainerState<M>): Promise<void> | void
  onEpochStart?(state: TrainerState<M>, epoch: number): Promise<void> | void
  onBatchEnd?(state: TrainerState<M>, info: BatchInfo): Promise<void> | void
  /** After validation: `log` holds the epoch's train and val metrics. */
  onEpochEnd?(state: TrainerState<M>, log: EpochLog): Promise<void> | void
  onFitEnd?(state: TrainerState<M>): Promise<void> | void
  /** State to store in checkpoints so `--resume` continues where it stopped. */
  stateDict?(): Record<string, unknown>
  loadStateDict?(state: Record<string, unknown>): void
}

export interface TrainerOptions<M extends TrainableModule = TrainableModule> {
  maxEpochs: number
  batchSize: number
  seed: number
  callbacks: Callback<M>[]
  signal?: AbortSignal
  /**
   * Random affine distortion of every training batch (`--augment`); `fill` is
   * the background in the normalised scale. Drawn from (seed, epoch) alone.
   */
  augment?: {fill: number}
  /**
   * Saved by the trainer after every callback has seen the epoch, so `last.ckpt`
   * holds each callback's state after it (Lightning's `save_last`).
   */
  lastCheckpoint?: {saveLast(state: TrainerState<M>): Promise<void>}
}

/** The loop: epochs of shuffled mini-batches, validation after each, callbacks around it. */
export class Trainer<M extends TrainableModule = TrainableModule> {
  constructor(private readonly options: TrainerOptions<M>) {}

  async fit(module: M, train: Batchable, val: Batchable, resume?: {epoch: number; history: EpochLog[]}): Promise<TrainerState<M>> {
    const state: TrainerState<M> = {module, maxEpochs: this.options.maxEpochs, epoch: resume?.epoch ?? 0, history: [...(resume?.history ?? [])], shouldStop: false}
    await this.emit((cb) => cb.onFitStart?.(state))
    const n = train.y.length
    const batches = Math.ceil(n / this.options.batchSize)
    const xBatch = new Float32Array(this.options.batchSize * PIXELS)
    const yBatch = new Int32Array(this.options.batchSize)
    const scratch = new Float32Array(PIXELS)
    while (state.epoch < state.maxEpochs && !state.shouldStop) {
      const epoch = state.epoch + 1
      await this.emit((cb) => cb.onEpochStart?.(state, epoch))
      const started = performance.now()
      // Each epoch's order comes from (seed, epoch) alone, so a resumed run shuffles as an uninterrupted one.
      const order = new Rng(this.options.seed).fork(epoch).shuffle(Array.from({length: n}, (_, i) => i))
      const distort = this.options.augment ? augmentRng(this.options.seed, epoch) : undefined
      let lossSum = 0
      let correct = 0
      for (let b = 0; b < batches; b++) {
        if (this.options.signal?.aborted) throw this.options.signal.reason ?? new Error('training aborted')
        const rows = order.slice(b * this.options.batchSize, (b + 1) * this.options.batchSize)
        for (const [i, row] of rows.entries()) {
          xBatch.set(train.x.subarray(row * PIXELS, (row + 1) * PIXELS), i * PIXELS)
          yBatch[i] = train.y[row]
        }

        if (distort) augmentBatch(xBatch, rows.length, distort, this.options.augment!.fill, AUGMENT_DEFAULTS, scratch)
        const step = module.trainingStep(xBatch.subarray(0, rows.length * PIXELS), yBatch.subarray(0, rows.length))
        lossSum += step.loss * rows.length
        correct += step.correct
        await this.emit((cb) => cb.onBatchEnd?.(state, {epoch, batch: b + 1, batches, size: rows.length, loss: step.loss}))
      }

      const validation = module.validationStep(val)
      const log: EpochLog = {
        epoch,
        trainLoss: lossSum / n,
        trainAccuracy: correct / n,
        valLoss: validation.valLoss,
        valAccuracy: validation.valAccuracy,
        valF1Macro: validation.valF1Macro,
        learningRate: module.learningRate,
        epochSeconds: (performance.now() - started) / 1000,
      }
      state.epoch = epoch
      state.history.push(log)
      await this.emit((cb) => cb.onEpochEnd?.(state, log))
      await this.options.lastCheckpoint?.saveLast(state)
    }

    await this.emit((cb) => cb.onFitEnd?.(state))
    return state
  }

  private async emit(call: (cb: Callback<M>) => Promise<void> | void): Promise<void> {
    for (const callback of this.options.callbacks) await call(callback)
  }
}
