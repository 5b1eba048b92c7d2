import {PIXELS} from '../config.js'
import {Rng} from '../data/rng.js'
import {type EpochLog, type Logged, METRICS, epochLog} from '../artifacts/epoch-log.js'
import {type CheckpointRequest, type CheckpointWriter, type RunDescription, assembleCheckpoint, writeCheckpointFile} from './checkpointing.js'
import type {Batchable, StepOutput} from './module.js'

/**
 * What the loop needs of a module (Lightning's `LightningModule`): one optimiser
 * step on a batch, the validation metrics of a split, a learning rate callbacks
 * may change, and what a checkpoint stores of it.
 * `DigitModule` is the real one; tests pass small fakes.
 */
export interface TrainableModule {
  learningRate: number
  trainingStep(x: Float32Array, y: Int32Array): StepOutput
  /** What validation of a split logs, by metric name. */
  validationStep(data: Batchable): Logged
  /** Parameters and buffers by name (a checkpoint's weights). */
  values(): Promise<Record<string, Float32Array>>
  /** The optimiser's slots by name (what a checkpoint needs to resume). */
  optimizerState(): Promise<Record<string, Float32Array>>
}

/**
 * A transform of the training data (Lightning's data-module transforms): for each epoch, a function
 * that changes a batch of `count` images in place. Drawn from the epoch alone, so a resumed run
 * transforms as an uninterrupted one.
 */
export type BatchTransform = (epoch: number) => (batch: Float32Array, count: number) => void

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
  /** Write a checkpoint of this state (Lightning's `trainer.save_checkpoint`); the trainer assembles it. */
  saveCheckpoint(file: string, request: CheckpointRequest): Promise<void>
}

/** Where a resumed run continues: the loop's position, its history and each callback's saved state (by name). */
export interface ResumePoint {
  epoch: number
  history: EpochLog[]
  callbacks?: Record<string, Record<string, unknown>>
  stopReason?: string
  /** The checkpoint's optimiser tensors, where callbacks keep theirs (see `Callback.checkpointTensors`). */
  tensors?: Record<string, Float32Array>
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
 * Hooks called by name, in the order the callbacks were given, except that the
 * trainer runs checkpointing callbacks after all others. A new behaviour is a
 * new callback, never an edit to the loop.
 */
export interface Callback<M extends TrainableModule = TrainableModule> {
  /** Unique among a trainer's callbacks: the key of its state in checkpoints. */
  readonly name: string
  /**
   * A checkpointing callback: run after every other callback so what it saves
   * holds each one's state after the epoch (Lightning orders `ModelCheckpoint` the same way).
   */
  readonly savesCheckpoints?: boolean
  onFitStart?(state: TrainerState<M>): Promise<void> | void
  onEpochStart?(state: TrainerState<M>, epoch: number): Promise<void> | void
  onBatchEnd?(state: TrainerState<M>, info: BatchInfo): Promise<void> | void
  /** Before the module validates the epoch (weight averaging puts its average in). */
  onValidationStart?(state: TrainerState<M>): Promise<void> | void
  /** After validation: `log` holds the epoch's train and val metrics. */
  onEpochEnd?(state: TrainerState<M>, log: EpochLog): Promise<void> | void
  onFitEnd?(state: TrainerState<M>): Promise<void> | void
  /** State to store in checkpoints so `--resume` continues where it stopped. */
  stateDict?(): Record<string, unknown>
  loadStateDict?(state: Record<string, unknown>): void
  /** Tensors to keep with the optimiser state of checkpoints that resume (names unique among callbacks). */
  checkpointTensors?(module: M): Record<string, Float32Array>
  /** On resume, after the module is built from the checkpoint: the tensors `checkpointTensors` saved. */
  loadCheckpointTensors?(module: M, tensors: Record<string, Float32Array>): void
}

export interface TrainerOptions<M extends TrainableModule = TrainableModule> {
  maxEpochs: number
  batchSize: number
  seed: number
  callbacks: Callback<M>[]
  signal?: AbortSignal
  /** Applied to every training batch before its step (`--augment`: src/data/augment.ts). */
  transform?: BatchTransform
  /** What checkpoints say of the run beside the loop's state (needed once a callback saves one). */
  run?: RunDescription
  /** Writes an assembled checkpoint; the checkpoint file by default. */
  writeCheckpoint?: CheckpointWriter
}

/** The loop: epochs of shuffled mini-batches, validation after each, callbacks around it. */
export class Trainer<M extends TrainableModule = TrainableModule> {
  /** The callbacks in the order they run: as given, checkpointing ones last. */
  readonly callbacks: ReadonlyArray<Callback<M>>

  constructor(private readonly options: TrainerOptions<M>) {
    const given = options.callbacks
    this.callbacks = [...given.filter((cb) => !cb.savesCheckpoints), ...given.filter((cb) => cb.savesCheckpoints)]
    const names = given.filter((cb) => cb.stateDict).map((cb) => cb.name)
    const twice = names.find((name, i) => names.indexOf(name) !== i)
    if (twice) throw new Error(`two callbacks keep their state under the name ${twice}`)
  }

  /**
   * The loop's state for `module`, from the start or from a resume point whose
   * callback states are loaded back into the callbacks (Lightning's restore).
   */
  restore(module: M, resume?: ResumePoint): TrainerState<M> {
    for (const cb of this.callbacks) {
      const saved = resume?.callbacks?.[cb.name]
      if (cb.loadStateDict && saved) cb.loadStateDict(saved)
      if (cb.loadCheckpointTensors && resume?.tensors) cb.loadCheckpointTensors(module, resume.tensors)
    }

    const state: TrainerState<M> = {
      module,
      maxEpochs: this.options.maxEpochs,
      epoch: resume?.epoch ?? 0,
      history: [...(resume?.history ?? [])],
      shouldStop: false,
      stopReason: resume?.stopReason,
      saveCheckpoint: async (file, request) => {
        if (!this.options.run) throw new Error('a callback saves a checkpoint, but the trainer was given no run description')
        const write = this.options.writeCheckpoint ?? writeCheckpointFile
        await write(file, await assembleCheckpoint(this.options.run, state, this.callbacks, request))
      },
    }
    return state
  }

  async fit(module: M, train: Batchable, val: Batchable, resume?: ResumePoint): Promise<TrainerState<M>> {
    const state = this.restore(module, resume)
    await this.emit((cb) => cb.onFitStart?.(state))
    const n = train.y.length
    const batches = Math.ceil(n / this.options.batchSize)
    const xBatch = new Float32Array(this.options.batchSize * PIXELS)
    const yBatch = new Int32Array(this.options.batchSize)
    while (state.epoch < state.maxEpochs && !state.shouldStop) {
      const epoch = state.epoch + 1
      await this.emit((cb) => cb.onEpochStart?.(state, epoch))
      const started = performance.now()
      // Each epoch's order comes from (seed, epoch) alone, so a resumed run shuffles as an uninterrupted one.
      const order = new Rng(this.options.seed).fork(epoch).shuffle(Array.from({length: n}, (_, i) => i))
      const transform = this.options.transform?.(epoch)
      // What each step logs, summed weighted by its batch size: the means over the epoch's images.
      const sums: Record<string, number> = {}
      for (let b = 0; b < batches; b++) {
        if (this.options.signal?.aborted) throw this.options.signal.reason ?? new Error('training aborted')
        const rows = order.slice(b * this.options.batchSize, (b + 1) * this.options.batchSize)
        for (const [i, row] of rows.entries()) {
          xBatch.set(train.x.subarray(row * PIXELS, (row + 1) * PIXELS), i * PIXELS)
          yBatch[i] = train.y[row]
        }

        transform?.(xBatch, rows.length)
        const step = module.trainingStep(xBatch.subarray(0, rows.length * PIXELS), yBatch.subarray(0, rows.length))
        for (const [name, value] of Object.entries(step.log)) sums[name] = (sums[name] ?? 0) + value * rows.length
        await this.emit((cb) => cb.onBatchEnd?.(state, {epoch, batch: b + 1, batches, size: rows.length, loss: step.loss}))
        // Steps are synchronous: without a turn of the event loop a Ctrl-C (or a cancel message) would wait for the epoch's end.
        if (this.options.signal) await new Promise((resolve) => setImmediate(resolve))
      }

      await this.emit((cb) => cb.onValidationStart?.(state))
      const validation = module.validationStep(val)
      const means = Object.fromEntries(Object.entries(sums).map(([name, sum]) => [name, sum / n]))
      // The loop's own metrics, as Lightning's LearningRateMonitor and Timer log them.
      const loop = {[METRICS.learningRate.name]: module.learningRate, [METRICS.epochSeconds.name]: (performance.now() - started) / 1000}
      const log = epochLog(epoch, means, validation, loop)
      state.epoch = epoch
      state.history.push(log)
      await this.emit((cb) => cb.onEpochEnd?.(state, log))
    }

    await this.emit((cb) => cb.onFitEnd?.(state))
    return state
  }

  private async emit(call: (cb: Callback<M>) => Promise<void> | void): Promise<void> {
    for (const callback of this.callbacks) await call(callback)
  }
}
