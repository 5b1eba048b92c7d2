/**
 * How the trainer turns its state into a checkpoint file (Lightning's
 * `trainer.save_checkpoint`): the run's description, the loop's position and
 * history, every callback's state, the weights and, for resuming, the optimiser.
 */
import {type EpochLog, METRICS} from '../artifacts/epoch-log.js'
import {type Checkpoint, type CheckpointHeader, type HeaderInput, saveCheckpoint} from '../model/checkpoint.js'

/**
 * What the run knows and the loop does not: the network kind, the data it is
 * trained on (normalisation, split fingerprints), the resolved configuration
 * and the backend (Lightning's hyperparameters and datamodule state).
 */
export type RunDescription = Pick<CheckpointHeader, 'model' | 'classes' | 'normalization' | 'data'> & {backend: string; config: Record<string, unknown>}

/** A checkpoint callback's request: with the optimiser's slots (to resume) or weights only, and the epoch it holds as best. */
export interface CheckpointRequest {
  withOptimizer: boolean
  bestEpoch: number
}

export interface CheckpointContents {
  header: HeaderInput
  values: Record<string, Float32Array>
  optimizer?: Record<string, Float32Array>
}

/** Writes assembled contents to a file (atomically, by default through `saveCheckpoint`); tests may capture them instead. */
export type CheckpointWriter = (file: string, contents: CheckpointContents) => Promise<void>

export const writeCheckpointFile: CheckpointWriter = (file, {header, values, optimizer}) => saveCheckpoint(file, header, values, optimizer)

/** What a checkpoint takes from the loop's state (the trainer's `TrainerState`). */
export interface LoopState {
  epoch: number
  history: EpochLog[]
  stopReason?: string
  module: {learningRate: number; values(): Promise<Record<string, Float32Array>>; optimizerState(): Promise<Record<string, Float32Array>>}
}

/**
 * The checkpoint of the loop's state after an epoch, with `callbacks`' state under their names and, for
 * resuming, their tensors beside the optimiser's.
 */
export async function assembleCheckpoint<S extends LoopState>(
  run: RunDescription,
  state: S,
  callbacks: ReadonlyArray<{name: string; stateDict?(): Record<string, unknown>; checkpointTensors?(module: S['module']): Record<string, Float32Array>}>,
  request: CheckpointRequest,
): Promise<CheckpointContents> {
  const {backend, config, ...described} = run
  return {
    header: {
      ...described,
      training: {
        epoch: state.epoch,
        bestEpoch: request.bestEpoch,
        // The best epoch's macro F1 whatever was monitored: the figure SPEC's checkpointing names.
        bestValF1Macro: state.history.find((log) => log.epoch === request.bestEpoch)?.[METRICS.valF1Macro.name] ?? Number.NEGATIVE_INFINITY,
        learningRate: state.module.learningRate,
        stopReason: state.stopReason ?? null,
        metrics: {...state.history.at(-1)},
        backend,
        config,
        callbacks: Object.fromEntries(callbacks.flatMap((cb) => (cb.stateDict ? [[cb.name, cb.stateDict()]] : []))),
        history: state.history.map((log) => ({...log})),
      },
    },
    values: await state.module.values(),
    optimizer: request.withOptimizer
      ? Object.assign(await state.module.optimizerState(), ...callbacks.map((cb) => cb.checkpointTensors?.(state.module) ?? {}))
      : undefined,
  }
}

/**
 * Rewrite a checkpoint with what is fitted after training (atomically): the temperature and the open-set
 * decision. Its weights and the rest of its header stay as they were.
 */
export async function addFitEnd(file: string, checkpoint: Checkpoint, fitted: Pick<CheckpointHeader, 'calibration' | 'openSet'>): Promise<void> {
  await saveCheckpoint(file, {...checkpoint.header, ...fitted}, checkpoint.values, checkpoint.optimizer)
}
