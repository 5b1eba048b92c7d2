/**
 * Training runs started from the web app: one at a time, each in a Worker so
 * the server keeps answering predictions, with progress fanned out to every
 * listener of the event stream.
 */
import {existsSync} from 'node:fs'
import {readFile, rm, writeFile} from 'node:fs/promises'
import {dirname, join} from 'node:path'
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
import {ARTIFACT_FILES, MetricsSchema} from '../artifacts/schemas.js'
import type {ModelInfo, ModelSlot} from './model.js'
import {CANCELLED_FILE, CHECKPOINT_FILE, RUN_NAME_PATTERN} from './runs.js'
import {startModuleWorker} from './worker.js'

/** A second run while one is going: the HTTP layer answers 409. */
export class ConflictError extends UserError {
  constructor(
    message: string,
    /** What conflicts: another run going, or a run of that name already there. */
    code: 'training-running' | 'run-exists',
  ) {
    super(message, {code})
  }
}

/** A training setting the request got wrong; `field` is its name in the request body. */
export class SettingError extends UserError {
  constructor(
    message: string,
    readonly field: string | null,
    setting?: string,
  ) {
    super(message, {code: 'bad-setting', setting})
  }
}

/** The server has no MNIST files to train on. */
export class NoTrainingDataError extends UserError {}

/**
 * Whether a run that finishes starts answering predictions: always, never, or
 * only when its macro-F1 on the evaluation split beats the model served now.
 */
export const ACTIVATE_CHOICES = ['if-better', 'always', 'never'] as const
export type ActivateChoice = (typeof ACTIVATE_CHOICES)[number]

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
  /** What was asked of the finished run, and what was done: switched to it or not, and why. */
  activation: {choice: ActivateChoice; activated: boolean; reason: string} | null
}

export type TrainingEvent =
  | {type: 'status'; data: TrainingStatus}
  | {type: 'batch'; data: z.infer<typeof BatchSchema>}
  | {type: 'epoch'; data: EpochLog}
  | {type: 'log'; data: {line: string}}

/** Batch events reach listeners at most this often; the status always holds the latest. */
const BATCH_EVENT_INTERVAL_MS = 100
const LOG_LINES_KEPT = 50

/** Request body of POST /api/train: training settings (see src/training/config.ts), and whether to serve the result (true: always, false: never). */
const TrainRequestSchema = z.looseObject({
  activate: z.union([z.enum(ACTIVATE_CHOICES), z.boolean().transform((yes): ActivateChoice => (yes ? 'always' : 'never'))]).default('if-better'),
})

/**
 * Lock the folder of a new run named `name` (created if missing), or throw
 * ConflictError: a run of that name exists, or another writer holds it. A
 * folder whose run stopped before its first epoch ended, or was cancelled, is taken over.
 */
async function lockRunName(outputDir: string, name: string, runsDir: string, replacesCancelled: boolean): Promise<RunLock> {
  await makeFolder(outputDir, 'choose another run-name')
  let lock: RunLock
  try {
    lock = lockRunFolder(outputDir)
  } catch (error) {
    if (error instanceof RunFolderLocked)
      throw new ConflictError(`a run named ${name} is being trained in ${runsDir}; wait for it to finish or choose another run-name`, 'training-running')
    throw error
  }

  const state = await runFolderState(outputDir).catch((error: unknown) => {
    lock.release()
    throw error
  })
  if (state === 'run' && !replacesCancelled) {
    lock.release()
    throw new ConflictError(`a run named ${name} already exists in ${runsDir}; choose another run-name`, 'run-exists')
  }

  return lock
}

function startWorker(workerData: {run: TrainRun; cancel: SharedArrayBuffer}): Worker {
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
    activation: null,
  }
}

export interface TrainingManagerOptions {
  runsDir: string
  /** MNIST files for training; undefined when the server was started without one. */
  dataDir: string | undefined
  model: ModelSlot
  /** The right to train across servers sharing one database (see PredictionStore.claimTraining). */
  claimTraining(): Promise<(() => Promise<void>) | undefined>
  /** The server log: one line when a finished run is (or is not) made the served model. */
  log?(message: string): void
}

export class TrainingManager {
  private status: TrainingStatus = idleStatus()
  private worker: Worker | undefined
  /** Set to 1 to ask the worker to stop: it reads the flag after every batch, without waiting for its event loop. */
  private cancelFlag: Int32Array | undefined
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
      throw new ConflictError(`a training run is already in progress (${this.status.runName}); wait for it to finish or cancel it first`, 'training-running')
    }

    const request = TrainRequestSchema.safeParse(body ?? {})
    if (!request.success) {
      if (request.error.issues[0].path[0] === 'activate')
        throw new SettingError(`"activate" must be one of ${ACTIVATE_CHOICES.join(', ')}, true or false`, 'activate')
      throw new SettingError('the request body must be a JSON object of train options, e.g. {"epochs": 2}', null)
    }

    const {activate, ...settings} = request.data
    const config = resolveSettings(settings)
    const dataDir = this.options.dataDir
    if (!dataDir) throw new NoTrainingDataError('training needs the MNIST files: restart serve with --data-dir pointing at them')
    if (!existsSync(mnistFilePath(dataDir, 'trainImages'))) {
      throw new NoTrainingDataError(`no MNIST files in ${dataDir}; run "digit-classification download-data --data-dir ${dataDir}" first`)
    }

    if (!RUN_NAME_PATTERN.test(config.run_name)) {
      throw new SettingError(
        `run-name "${config.run_name}" must be a plain folder name: letters, digits, ".", "_" or "-", starting with a letter or digit`,
        'run-name',
      )
    }

    const run: TrainRun = {config, dataDir, outputDir: join(this.options.runsDir, config.run_name), lockHeld: true}
    // A cancelled run gives its name back: starting one of that name replaces it.
    const replacesCancelled = existsSync(join(run.outputDir, CANCELLED_FILE)) && !existsSync(join(run.outputDir, ARTIFACT_FILES.metrics))
    // The folder's lock decides between servers sharing the runs folder, and against a CLI run into it.
    this.claiming = true
    let lock: RunLock | undefined
    let release: (() => Promise<void>) | undefined
    try {
      lock = await lockRunName(run.outputDir, config.run_name, this.options.runsDir, replacesCancelled)
      // Another server on the same database may be training: one run at a time across all of them.
      release = await this.options.claimTraining()
    } finally {
      this.claiming = false
      if (!release) lock?.release()
    }

    if (!release)
      throw new ConflictError('a training run is already in progress on another server sharing this database; wait for it to finish', 'training-running')
    if (replacesCancelled) {
      run.force = true
      await rm(join(run.outputDir, CANCELLED_FILE), {force: true})
    }

    this.launch(run, activate, release, lock!)
    return this.snapshot()
  }

  private launch(run: TrainRun, activate: ActivateChoice, release: () => Promise<void>, lock: RunLock): void {
    this.status = {
      ...idleStatus(),
      state: 'running',
      runName: run.config.run_name,
      outputDir: run.outputDir,
      startedAt: new Date().toISOString(),
      epochs: run.config.epochs,
    }
    const cancel = new SharedArrayBuffer(4)
    this.cancelFlag = new Int32Array(cancel)
    const worker = startWorker({run, cancel})
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
        this.cancelFlag = undefined
        lock.release()
        void this.conclude(outcome, crash, activate).then(release).finally(resolve)
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

  private async conclude(outcome: WorkerMessage | undefined, crash: Error | undefined, activate: ActivateChoice): Promise<void> {
    const finishedAt = new Date().toISOString()
    if (outcome?.type === 'done') {
      this.status = {...this.status, state: 'finished', finishedAt, summary: outcome.summary}
      const decision = await this.decideActivation(activate, outcome.summary)
      let activated = false
      if (decision.activate && this.status.outputDir) {
        try {
          this.status.model = await this.options.model.load(join(this.status.outputDir, CHECKPOINT_FILE))
          activated = true
        } catch (error) {
          this.status.error = `trained, but loading ${CHECKPOINT_FILE} failed: ${errorMessage(error)}`
        }
      }

      this.status.activation = {choice: activate, activated, reason: decision.reason}
      const line = `${this.status.runName}: ${activated ? 'now answering predictions' : 'not made the served model'} (${decision.reason})`
      this.status.log = [...this.status.log, line].slice(-LOG_LINES_KEPT)
      this.options.log?.(`training: ${line}`)
    } else if (outcome?.type === 'failed') {
      this.status = {...this.status, state: outcome.cancelled ? 'cancelled' : 'failed', finishedAt, error: outcome.cancelled ? 'cancelled' : outcome.message}
      // The run folder remembers it was cancelled (the dashboard shows it so), and gives its name back.
      if (outcome.cancelled && this.status.outputDir && existsSync(this.status.outputDir)) {
        await writeFile(join(this.status.outputDir, CANCELLED_FILE), `${JSON.stringify({cancelled_at: finishedAt})}\n`).catch(() => {})
      }
    } else {
      this.status = {...this.status, state: 'failed', finishedAt, error: `the training worker stopped unexpectedly${crash ? `: ${errorMessage(crash)}` : ''}`}
    }

    this.emit({type: 'status', data: this.snapshot()})
  }

  /** Ask the running worker to stop after its current batch; false when nothing runs. */
  cancel(): boolean {
    if (!this.worker || !this.cancelFlag) return false
    Atomics.store(this.cancelFlag, 0, 1)
    return true
  }

  /** Whether a finished run should answer predictions, with the reason in a few words. */
  private async decideActivation(choice: ActivateChoice, summary: Record<string, unknown>): Promise<{activate: boolean; reason: string}> {
    if (choice === 'always') return {activate: true, reason: 'asked to switch when finished'}
    if (choice === 'never') return {activate: false, reason: 'asked not to switch'}
    const served = this.options.model.info
    if (!served.loaded || !served.checkpointPath) return {activate: true, reason: 'no model was answering'}
    const score = evalF1OfSummary(summary)
    const current = await evalF1NextTo(served.checkpointPath)
    if (score === undefined) return {activate: false, reason: 'its evaluation score is unknown'}
    if (current === undefined) return {activate: false, reason: 'the evaluation score of the model answering now is unknown'}
    const scores = `eval macro-F1 ${score.toFixed(4)} against ${current.toFixed(4)}`
    return score > current ? {activate: true, reason: `better: ${scores}`} : {activate: false, reason: `not better: ${scores}`}
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

/**
 * The settings of a request, resolved; a setting that is wrong is named by
 * its key: the first key that fails on its own is the culprit.
 */
function resolveSettings(settings: Record<string, unknown>): ReturnType<typeof resolveTrainingConfig> {
  try {
    return resolveTrainingConfig({flags: settings, flagsSource: 'request body'})
  } catch (error) {
    if (!(error instanceof UserError)) throw error
    const field = Object.keys(settings).find((key) => {
      try {
        resolveTrainingConfig({flags: {[key]: settings[key]}, flagsSource: 'request body'})
        return false
      } catch {
        return true
      }
    })
    // The setting's key: the error's own, else the request field's (flags' spelling, `class-counts`).
    throw new SettingError(error.message, field ?? null, error.setting ?? field?.replaceAll('-', '_'))
  }
}

/** The evaluation split's macro-F1 in a run's summary (TrainSummary.metrics.eval.f1_macro). */
function evalF1OfSummary(summary: Record<string, unknown>): number | undefined {
  const score = (summary.metrics as {eval?: {f1_macro?: unknown}} | undefined)?.eval?.f1_macro
  return typeof score === 'number' ? score : undefined
}

/** The evaluation macro-F1 in the metrics.json beside a checkpoint, when there is one. */
async function evalF1NextTo(checkpointPath: string): Promise<number | undefined> {
  try {
    const metrics = MetricsSchema.safeParse(JSON.parse(await readFile(join(dirname(checkpointPath), ARTIFACT_FILES.metrics), 'utf8')))
    return metrics.success ? metrics.data.splits.eval.f1_macro : undefined
  } catch {
    return undefined
  }
}
