import {existsSync} from 'node:fs'
import {availableParallelism} from 'node:os'
import {rm} from 'node:fs/promises'
import {join} from 'node:path'

import {TRAINING_DEFAULTS} from '../config.js'
import {augmentTransform} from '../data/augment.js'
import {type SplitName, SPLIT_NAMES} from '../data/split.js'
import {selectBackend} from '../engine/backend.js'
import {prestartKernelWorker, stopSpareKernelWorker} from '../engine/cnn-parallel.js'
import {ARTIFACT_FILES} from '../artifacts/schemas.js'
import type {TrainSummary} from '../artifacts/outputs.js'
import {UserError, errorMessage} from '../errors.js'
import {softmaxWithTemperature} from '../evaluation/calibration.js'
import {type Checkpoint, loadCheckpoint} from '../model/checkpoint.js'
import {addFitEnd} from './checkpointing.js'
import {fitEndCallbacks, runFitEnd} from './fit-end.js'
import {formatModelSummary, modelSummary} from '../model/summary.js'
import {describeNetwork, networkOf} from '../model/network.js'
import {sweepTemporaries} from '../util/atomic.js'
import {type RunLock, lockRunFolder} from '../util/lock.js'
import {neverTrained, runFilesIn} from './run-folder.js'
import {makeFolder} from '../util/paths.js'
import {writeArtifactFile} from '../artifacts/write.js'
import {startRenderWorker, stopRenderWorker} from '../artifacts/render.js'
import type {ArtifactFile} from '../artifacts/schemas.js'
import {
  DEFAULT_MONITOR,
  EarlyStopping,
  PLATEAU_THRESHOLD,
  HookCallback,
  MetricsLogger,
  ModelCheckpoint,
  type ProgressBarFactory,
  ProgressReporter,
  ReduceLROnPlateau,
  selectionMonitors,
} from './callbacks.js'
import {WeightAveraging} from './averaging.js'
import {DigitModule, type LossTerms, type SplitOutputs, lossTerms} from './module.js'
import {type PreparedData, type SplitMetrics, type TrainRun, prepareData, splitMetrics} from './data.js'

export {type PreparedData, type SplitMetrics, type TrainRun, prepareData, splitMetrics} from './data.js'
import {CONFIG_FILE, type TrainingConfig, configDocument, resolveTrainingConfig} from './config.js'
import {type EpochLog, EpochLogSchema} from '../artifacts/epoch-log.js'
import {type BatchInfo, type ResumePoint, Trainer, type TrainerState} from './trainer.js'

export interface TrainHooks {
  onEpochEnd?(log: EpochLog): void
  onBatchEnd?(info: BatchInfo): void
  signal?: AbortSignal
  /** Where progress lines go (stderr by default). */
  progress?: NodeJS.WritableStream & {isTTY?: boolean}
  /** Draws a progress bar per epoch (the CLI passes its terminal bar). */
  progressBar?: ProgressBarFactory
}

export type {TrainSummary} from '../artifacts/outputs.js'

/** Train as SPEC §3 describes: the module, the trainer and its callbacks, then the best model's metrics. */
export async function runTraining(run: TrainRun, hooks: TrainHooks = {}): Promise<TrainSummary> {
  const {config, outputDir} = run
  const progress = hooks.progress ?? process.stderr
  // The plots' libraries load on a thread of their own while this one reads the data and starts the engine (one core's
  // work), so the plots need not wait for them at the end.
  startRenderWorker()
  // Likewise the kernel's second thread, when the run trains a CNN on two (the engine may still choose otherwise).
  if (Math.min(config.num_workers, availableParallelism()) >= 2 && config.model !== 'softmax' && config.backend !== 'cpu') prestartKernelWorker()
  try {
    // Data first: a wrong path or impossible class counts fail before any engine starts.
    const data = await prepareData(run.dataDir, config)
    // One writer per folder: a second run into it is refused before it reads or writes a file there.
    const lock = run.lockHeld ? undefined : await lockOutputDir(outputDir, !run.resume)
    try {
      return await trainLocked(run, data, hooks, progress)
    } finally {
      lock?.release()
    }
  } catch (error) {
    // A run that ends without its plots (an error, Ctrl-C) stops their thread before the process may exit.
    await stopRenderWorker()
    throw error
  } finally {
    await stopSpareKernelWorker()
  }
}

async function trainLocked(run: TrainRun, data: PreparedData, hooks: TrainHooks, progress: NodeJS.WritableStream): Promise<TrainSummary> {
  const {config, outputDir} = run
  const resumed = run.resume ? await loadResume(run, data) : undefined
  // Checked now, cleared only once the engine has started: a run that cannot start never costs the old one.
  const replaced = run.resume ? [] : await checkOutputDir(outputDir, run.force ?? false, progress)
  const backend = await selectBackend(config.backend, {threads: config.num_workers, training: true, model: config.model})
  await clearOutputDir(outputDir, run.resume ? Object.values(ARTIFACT_FILES) : replaced)
  // Temporary files a killed run left behind (a run still writing keeps its own).
  for (const folder of [outputDir, join(outputDir, 'logs')]) await sweepTemporaries(folder)
  const configFile = await writeArtifactFile(outputDir, CONFIG_FILE, `${JSON.stringify(configDocument(config), null, 2)}\n`)
  progress.write(`backend: ${backend.name} (${backend.threads} thread${backend.threads === 1 ? '' : 's'})\n`)
  const {classes} = data.dataset
  // The head has one output per digit of the run.
  const network = describeNetwork(config.model, classes.length)
  progress.write(`classes: ${classes.join(', ')}\n`)
  progress.write(formatModelSummary(modelSummary(network)))

  const checkpoint = new ModelCheckpoint<DigitModule>(outputDir, selectionMonitors(config.selection))
  const logger = new MetricsLogger(outputDir)
  const trainer = new Trainer<DigitModule>({
    maxEpochs: config.epochs,
    batchSize: config.batch_size,
    seed: config.seed,
    callbacks: [
      checkpoint,
      new EarlyStopping(config.patience, selectionMonitors(config.selection)),
      new ReduceLROnPlateau(TRAINING_DEFAULTS.lrFactor, TRAINING_DEFAULTS.lrPatience, PLATEAU_THRESHOLD, DEFAULT_MONITOR),
      ...(config.ema_decay > 0 ? [new WeightAveraging(config.ema_decay)] : []),
      logger,
      new ProgressReporter(progress, undefined, hooks.progressBar),
      new HookCallback(hooks),
    ],
    signal: hooks.signal,
    // Background (ink 0) in the normalised scale, so distorted borders look like MNIST's black.
    transform: config.augment ? augmentTransform(config.seed, -data.normalization.mean / data.normalization.std) : undefined,
    run: {
      model: config.model,
      classes: [...classes],
      normalization: data.normalization,
      data: {
        seed: config.seed,
        evalRatio: config.eval_ratio,
        valRatio: config.val_ratio,
        classCounts: Object.fromEntries(Object.entries(data.dataset.classCounts).map(([label, count]) => [String(label), count])),
        fingerprints: data.dataset.fingerprints,
      },
      backend: backend.name,
      config: configDocument(config),
    },
  })

  const module = new DigitModule(network, {
    seed: config.seed,
    learningRate: config.learning_rate,
    ...runLoss(config, data),
    values: resumed?.values,
  })
  try {
    if (resumed) {
      await module.loadOptimizerState(resumed.optimizer)
      module.learningRate = learningRateOnResume(config, resumed)
    }

    const done = resumed ? trainedOut(resumed, config) : undefined
    if (resumed && done) {
      // Killed after its last epoch, or asked again: finish what the end of the run does (logs, evaluation, artifacts).
      progress.write(`last.ckpt ${done}; completing the run: final evaluation and artifacts\n`)
      const state = trainer.restore(module, resumePoint(resumed))
      state.shouldStop = true
      await logger.onEpochEnd(state)
      return await finish(run, data, state, checkpoint, backend, progress, configFile)
    }

    if (resumed) progress.write(`resuming after epoch ${resumed.header.training.epoch}\n`)
    const state = await trainer.fit(module, data.tensors.train, data.tensors.val, resumed ? resumePoint(resumed) : undefined)
    return await finish(run, data, state, checkpoint, backend, progress, configFile)
  } finally {
    module.dispose()
  }
}

/**
 * The rate a resumed run continues with: the checkpoint's own (after any
 * plateau reductions), unless the configuration asks for another learning
 * rate than the run was started with; that rate then applies from the next epoch.
 */
/** The run's loss (`--loss`), from its training split. */
function runLoss(config: TrainingConfig, data: PreparedData): LossTerms {
  return lossTerms(config.loss, data.tensors.train.y, data.dataset.classes.length)
}

function learningRateOnResume(config: TrainingConfig, resumed: Checkpoint): number {
  const saved = resolveTrainingConfig({checkpoint: resumed.header.training.config})
  return config.learning_rate === saved.learning_rate ? resumed.header.training.learningRate : config.learning_rate
}

async function finish(
  run: TrainRun,
  data: PreparedData,
  state: TrainerState<DigitModule>,
  checkpoint: ModelCheckpoint<DigitModule>,
  backend: {name: string; threads: number},
  progress: NodeJS.WritableStream,
  configFile: ArtifactFile,
): Promise<TrainSummary> {
  const {config, outputDir} = run
  // Final metrics are the best checkpoint's, as Lightning's `trainer.test(ckpt_path='best')`.
  const best = await loadCheckpoint(checkpoint.bestPath)
  const classCount = data.dataset.classes.length
  const bestModule = new DigitModule(networkOf(best.header), {
    seed: config.seed,
    learningRate: config.learning_rate,
    classWeights: runLoss(config, data).classWeights,
    values: best.values,
  })
  try {
    // The plots draw the evaluation split, the fit-end callbacks read the validation split: scored first, in that
    // order, so the plot thread (started with the run) draws the confusion matrix while the fit end runs, and the
    // other plots while this thread scores the training split.
    const {startConfusionMatrix, startTrainingPlots, writeTrainingArtifacts} = await import('./artifacts.js')
    const predictions = {} as Record<SplitName, SplitOutputs>
    predictions.eval = bestModule.predict(data.tensors.eval)
    const confusion = startConfusionMatrix(data, predictions.eval)
    predictions.val = bestModule.predict(data.tensors.val)
    const fitted = await runFitEnd(fitEndCallbacks(config), {run, data, network: bestModule.network, val: predictions.val}, progress)
    const temperature = fitted.calibration?.temperature ?? 1
    // Every probability a run exports is the calibrated one; predictions and the loss stay the network's.
    const calibratedEval = {...predictions.eval, probs: softmaxWithTemperature(predictions.eval.logits, temperature, classCount)}
    const evalSplit = startTrainingPlots({run, data, history: state.history, temperature}, calibratedEval, predictions.eval.probs, confusion)
    for (const name of SPLIT_NAMES) predictions[name] ??= bestModule.predict(data.tensors[name])
    const metrics = Object.fromEntries(SPLIT_NAMES.map((name) => [name, splitMetrics(data.tensors[name].y, predictions[name], classCount)])) as Record<
      SplitName,
      SplitMetrics
    >

    // The fit end goes into best.ckpt's header only; its weights stay as they were.
    await addFitEnd(checkpoint.bestPath, best, fitted)
    const artifacts = await writeTrainingArtifacts({
      run,
      data,
      history: state.history,
      bestEpoch: checkpoint.bestEpoch,
      backend: backend.name,
      metrics,
      evalSplit,
      temperature,
      extraFiles: [configFile],
    })
    const files = ['best.ckpt', 'last.ckpt', CONFIG_FILE, join('logs', 'metrics.csv'), join('logs', 'metrics.json'), ...artifacts]
    // The count is of the same list the JSON summary prints.
    progress.write(`wrote ${files.length} files to ${outputDir}\n`)
    return {
      run_name: config.run_name,
      output_dir: outputDir,
      backend: backend.name,
      threads: backend.threads,
      model: config.model,
      epochs: state.epoch,
      best_epoch: checkpoint.bestEpoch,
      stop_reason: state.stopReason ?? null,
      metrics,
      files,
    }
  } finally {
    bestModule.dispose()
  }
}

async function loadResume(run: TrainRun, data: PreparedData): Promise<Checkpoint> {
  const {config} = run
  const last = await loadCheckpoint(join(run.outputDir, 'last.ckpt'))
  const {header} = last
  if (header.model !== config.model) throw new UserError(`--resume: last.ckpt holds a ${header.model} model, not ${config.model}`)
  for (const name of SPLIT_NAMES) {
    if (header.data.fingerprints[name] !== data.dataset.fingerprints[name]) {
      throw new UserError(`--resume: the ${name} split differs from the one last.ckpt was trained on (other data, seed, ratios or class counts)`)
    }
  }

  if (Object.keys(last.optimizer).length === 0) throw new UserError('--resume: last.ckpt holds no optimiser state')
  return last
}

/** Why a resumed run has no epoch left to train (it stopped early, or reached --epochs), or undefined. */
function trainedOut(last: Checkpoint, config: TrainingConfig): string | undefined {
  const {epoch, stopReason} = last.header.training
  if (stopReason) return `stopped early after epoch ${epoch} (${stopReason})`
  if (epoch >= config.epochs) return `already finished epoch ${epoch} of ${config.epochs}`
  return undefined
}

function resumePoint(checkpoint: Checkpoint): ResumePoint {
  const {epoch, history, callbacks, stopReason} = checkpoint.header.training
  return {epoch, history: history.map((log) => EpochLogSchema.parse(log)), callbacks, stopReason: stopReason ?? undefined, tensors: checkpoint.optimizer}
}

/** Take the output folder's lock, creating the folder if `create` (a resumed run's must exist: its last.ckpt is missing otherwise). */
async function lockOutputDir(dir: string, create: boolean): Promise<RunLock | undefined> {
  if (create) await makeFolder(dir, 'choose another --output-dir')
  else if (!existsSync(dir)) return undefined
  return lockRunFolder(dir)
}

/**
 * Refuse an output folder that already holds a run unless `force`; one whose
 * run never finished an epoch is started over. Returns the old run's files for
 * {@link clearOutputDir}, which removes them only once the new run is known to start.
 */
async function checkOutputDir(dir: string, force: boolean, progress: NodeJS.WritableStream): Promise<string[]> {
  const present = await runFilesIn(dir)
  if (present.length > 0 && !force && !neverTrained(present)) {
    throw new UserError(
      `${dir} already holds a run (${present.slice(0, 3).join(', ')}…); continue it with --resume, replace it with --force, or choose another --output-dir`,
    )
  }

  if (present.length > 0 && !force) progress.write(`starting over in ${dir}: the run there stopped before its first epoch ended\n`)
  return present
}

async function clearOutputDir(dir: string, names: string[]): Promise<void> {
  try {
    for (const name of names) await rm(join(dir, name), {recursive: true, force: true})
  } catch (error) {
    throw new UserError(`cannot clear the output folder ${dir} (${errorMessage(error)}); choose another --output-dir`)
  }
}
