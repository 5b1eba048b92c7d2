/**
 * Training runs started from the web app: one at a time, each in a Worker so
 * the server keeps answering predictions, with progress fanned out to every
 * listener of the event stream.
 */
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import type {Worker} from 'node:worker_threads'

import {z} from 'zod'

import {mnistFilePath} from '../data/dataset.js'
import {UserError, errorMessage} from '../errors.js'
import {resolveTrainingConfig} from '../training/config.js'
import type {TrainRun} from '../training/run.js'
import {runFolderState} from '../training/run-folder.js'
import {RunFolderLocked, type RunLock, lockRunFolder} from '../util/lock.js'
import {makeFolder} from '../util/paths.js'
import {type EpochLog, EpochLogSchema} from '../artifacts/epoch-log.js'
import type {ModelInfo, ModelSlot} from './model.js'
import {CHECKPOINT_FILE, RUN_NAME_PATTERN} from './runs.js'
import {startModuleWorker} from './worker.js'

/** A second run while one is going: the HTTP layer answers 409. */
export class ConflictError extends UserError {}

const BatchSchema = z.object({epoch: z.number(), batch: z.number(), batches: z.number(), loss: z.number()})

/** What the worker tells the server; checked on arrival like any other boundary. */
export const WorkerMessageSchema = z.discriminatedUnion('type', [
  BatchSchema.extend({type: z.literal('batch')}),
  z.object({type: z.literal('epoch'), log: EpochLogSchema}),
  z.object({type: z.literal('log'), line: z.string()}),
  z.object({type: z.literal('done'), summary: z.record(z.string(), z.unknown())}),
  z.object({type: z.literal('failed'), message: z.string(), cancelled: z.boolean(), userError: z.boolean()}),
])
export type WorkerMessage = z.infer<typeof WorkerMessageSchema>

export type TrainingState = 'idle' | 'running' | 'finished' | 'failed' | 'cancelled'

export interface TrainingStatus {
  state: TrainingState
  runName: string | null
  outputDir: string | null
  startedAt: string | null
  finishedAt: string | null
  /** Epochs requested (early stopping may end sooner). */
  epochs: number | null
  current: z.infer<typeof BatchSchema> | null
  history: EpochLog[]
  /** Last progress lines of the trainer. */
  log: string[]
  summary: Record<string, unknown> | null
  error: string | null
  /** The model loaded from the run's best checkpoint when it finished (if asked to). */
  model: ModelInfo | null
}

export type TrainingEvent =
  | {type: 'status'; data: TrainingStatus}
  | {type: 'batch'; data: z.infer<typeof BatchSchema>}
  | {type: 'epoch'; data: EpochLog}
  | {type: 'log'; data: {line: string}}

/** Batch events reach listeners at most this often; the status always holds the latest. */
const BATCH_EVENT_INTERVAL_MS = 100
const LOG_LINES_KEPT = 50

/** Request body of POST /api/train: training settings (see src/training/config.ts), and whether to serve the result. */
const TrainRequestSchema = z.looseObject({activate: z.boolean().default(true)})

/**
 * Lock the folder of a new run named `name` (created if missing), or throw
 * ConflictError: a run of that name exists, or another writer holds it. A
 * folder whose run stopped before its first epoch ended is taken over.
 */
async function lockRunName(outputDir: string, name: string, runsDir: string): Promise<RunLock> {
  await makeFolder(outputDir, 'choose another run-name')
  let lock: RunLock
  try {
    lock = lockRunFolder(outputDir)
  } catch (error) {
    if (error instanceof RunFolderLocked) throw new ConflictError(`a run named ${name} is being trained in ${runsDir}; wait for it to finish or choose another run-name`)
    throw error
  }

  const state = await runFolderState(outputDir).catch((error: unknown) => {
    lock.release()
    throw error
  })
  if (state === 'run') {
    lock.release()
    throw new ConflictError(`a run named ${name} already exists in ${runsDir}; choose another run-name`)
  }

  return lock
}

function startWorker(workerData: {run: TrainRun}): Worker {
  return startModuleWorker('training-worker', {workerData, stdout: true})
}

function idleStatus(): TrainingStatus {
  return {
    state: 'idle',
    runName: null,
    outputDir: null,
    startedAt: null,
    finishedAt: null,
    epochs: null,
    current: null,
    history: [],
    log: [],
    summary: null,
    error: null,
    model: null,
  }
}

export interface TrainingManagerOptions {
  runsDir: string
  /** MNIST files for training; undefined when the server was started without one. */
  dataDir: string | undefined
  model: ModelSlot
  /** The right to train across servers sharing one database (see PredictionStore.claimTraining). */
  claimTraining(): Promise<(() => Promise<void>) | undefined>
}

export class TrainingManager {
  private status: TrainingStatus = idleStatus()
  private worker: Worker | undefined
  private finished: Promise<void> = Promise.resolve()
  private readonly listeners = new Set<(event: TrainingEvent) => void>()
  private lastBatchEvent = 0
  /** Between the checks of a request and its worker starting, while the database is asked for the right to train. */
  private claiming = false

  constructor(private readonly options: TrainingManagerOptions) {}

  get running(): boolean {
    return this.worker !== undefined
  }

  snapshot(): TrainingStatus {
    return structuredClone(this.status)
  }

  /** Listen to progress; returns the function that stops listening. */
  subscribe(listener: (event: TrainingEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /**
   * Validate a request and start the run; throws UserError (400) or
   * ConflictError (409, also when another server sharing the database trains).
   */
  async start(body: unknown): Promise<TrainingStatus> {
    if (this.worker || this.claiming) {
      throw new ConflictError(`a training run is already in progress (${this.status.runName}); wait for it to finish or cancel it first`)
    }

    const request = TrainRequestSchema.safeParse(body ?? {})
    if (!request.success) throw new UserError('the request body must be a JSON object of train options, e.g. {"epochs": 2}')
    const {activate, ...settings} = request.data
    const config = resolveTrainingConfig({flags: settings, flagsSource: 'request body'})
    const dataDir = this.options.dataDir
    if (!dataDir) throw new UserError('training needs the MNIST files: restart serve with --data-dir pointing at them')
    if (!existsSync(mnistFilePath(dataDir, 'trainImages'))) {
      throw new UserError(`no MNIST files in ${dataDir}; run "digit-classification download-data --data-dir ${dataDir}" first`)
    }

    if (!RUN_NAME_PATTERN.test(config.run_name)) {
      throw new UserError(`run-name "${config.run_name}" must be a plain folder name: letters, digits, ".", "_" or "-", starting with a letter or digit`)
    }

    const run: TrainRun = {config, dataDir, outputDir: join(this.options.runsDir, config.run_name), lockHeld: true}
    // The folder's lock decides between servers sharing the runs folder, and against a CLI run into it.
    this.claiming = true
    let lock: RunLock | undefined
    let release: (() => Promise<void>) | undefined
    try {
      lock = await lockRunName(run.outputDir, config.run_name, this.options.runsDir)
      // Another server on the same database may be training: one run at a time across all of them.
      release = await this.options.claimTraining()
    } finally {
      this.claiming = false
      if (!release) lock?.release()
    }

    if (!release) throw new ConflictError('a training run is already in progress on another server sharing this database; wait for it to finish')
    this.launch(run, activate, release, lock!)
    return this.snapshot()
  }

  private launch(run: TrainRun, activate: boolean, release: () => Promise<void>, lock: RunLock): void {
    this.status = {
      ...idleStatus(),
      state: 'running',
      runName: run.config.run_name,
      outputDir: run.outputDir,
      startedAt: new Date().toISOString(),
      epochs: run.config.epochs,
    }
    const worker = startWorker({run})
    // stdout is the CLI's data channel: anything the worker prints goes to stderr instead.
    worker.stdout.on('data', (chunk: Buffer) => process.stderr.write(chunk))
    this.worker = worker
    let outcome: WorkerMessage | undefined
    worker.on('message', (raw: unknown) => {
      const message = WorkerMessageSchema.safeParse(raw)
      if (!message.success) return
      if (message.data.type === 'done' || message.data.type === 'failed') outcome = message.data
      else this.progress(message.data)
    })
    let crash: Error | undefined
    worker.on('error', (error) => {
      crash = error
    })
    this.finished = new Promise((resolve) => {
      worker.once('exit', () => {
        this.worker = undefined
        lock.release()
        void this.conclude(outcome, crash, activate)
          .then(release)
          .finally(resolve)
      })
    })
    this.emit({type: 'status', data: this.snapshot()})
  }

  private progress(message: Exclude<WorkerMessage, {type: 'done' | 'failed'}>): void {
    switch (message.type) {
      case 'batch': {
        const {type, ...info} = message
        this.status.current = info
        const now = Date.now()
        if (info.batch === info.batches || now - this.lastBatchEvent >= BATCH_EVENT_INTERVAL_MS) {
          this.lastBatchEvent = now
          this.emit({type: 'batch', data: info})
        }

        break
      }

      case 'epoch': {
        this.status.history.push(message.log)
        this.emit({type: 'epoch', data: message.log})
        break
      }

      case 'log': {
        this.status.log = [...this.status.log, message.line].slice(-LOG_LINES_KEPT)
        this.emit({type: 'log', data: {line: message.line}})
        break
      }
    }
  }

  private async conclude(outcome: WorkerMessage | undefined, crash: Error | undefined, activate: boolean): Promise<void> {
    const finishedAt = new Date().toISOString()
    if (outcome?.type === 'done') {
      this.status = {...this.status, state: 'finished', finishedAt, summary: outcome.summary}
      if (activate && this.status.outputDir) {
        try {
          this.status.model = await this.options.model.load(join(this.status.outputDir, CHECKPOINT_FILE))
        } catch (error) {
          this.status.error = `trained, but loading ${CHECKPOINT_FILE} failed: ${errorMessage(error)}`
        }
      }
    } else if (outcome?.type === 'failed') {
      this.status = {...this.status, state: outcome.cancelled ? 'cancelled' : 'failed', finishedAt, error: outcome.cancelled ? 'cancelled' : outcome.message}
    } else {
      this.status = {...this.status, state: 'failed', finishedAt, error: `the training worker stopped unexpectedly${crash ? `: ${errorMessage(crash)}` : ''}`}
    }

    this.emit({type: 'status', data: this.snapshot()})
  }

  /** Ask the running worker to stop after its current batch; false when nothing runs. */
  cancel(): boolean {
    if (!this.worker) return false
    this.worker.postMessage('cancel')
    return true
  }

  /** Resolves when the current run (if any) has ended and its outcome is recorded. */
  async settled(): Promise<void> {
    await this.finished
  }

  /** Stop any run at once (server shutdown). */
  async close(): Promise<void> {
    if (this.worker) await this.worker.terminate()
    await this.finished
    this.listeners.clear()
  }

  private emit(event: TrainingEvent): void {
    for (const listener of this.listeners) listener(event)
  }
}
