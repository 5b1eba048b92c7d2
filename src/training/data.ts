/**
 * What a training run is given and what it prepares before the loop: the
 * configuration and folders, the curated data with its normalisation, and the
 * per-split scores it reports. Shared by the run (run.ts) and its artifacts
 * (artifacts.ts).
 */
import {ALL_IMAGES} from '../config.js'
import {type CuratedDataset, type Normalization, computeNormalization, loadCuratedDataset, splitTensors} from '../data/dataset.js'
import {type SplitName, SPLIT_NAMES} from '../data/split.js'
import {classificationReport} from '../evaluation/metrics.js'
import type {SplitScores} from '../artifacts/schemas.js'
import type {TrainingConfig} from './config.js'
import {type Batchable, type SplitOutputs, inverseFrequencyWeights} from './module.js'

/** A training run: its configuration, where its data comes from and where it goes. */
export interface TrainRun {
  config: TrainingConfig
  dataDir: string
  outputDir: string
  /** Continue from `outputDir/last.ckpt`. */
  resume?: boolean
  /** Replace a run already in the output folder. */
  force?: boolean
  /** The caller already holds the output folder's lock (src/util/lock.ts) and releases it. */
  lockHeld?: boolean
}

/** Everything a run computes before the loop, reused by the artifacts afterwards. */
export interface PreparedData {
  dataset: CuratedDataset
  normalization: Normalization
  tensors: Record<SplitName, Batchable>
  classWeights: number[]
}

export async function prepareData(
  dataDir: string,
  config: Pick<TrainingConfig, 'seed' | 'eval_ratio' | 'val_ratio' | 'classes' | 'class_counts'>,
): Promise<PreparedData> {
  const classCounts = config.class_counts === ALL_IMAGES ? undefined : config.class_counts
  const dataset = await loadCuratedDataset({
    dataDir,
    seed: config.seed,
    evalRatio: config.eval_ratio,
    valRatio: config.val_ratio,
    classCounts,
    classes: config.classes,
  })
  // Statistics from the training split only: validation and evaluation never leak into them.
  const normalization = computeNormalization(dataset.source, dataset.splits.train)
  const tensors = Object.fromEntries(
    SPLIT_NAMES.map((name) => [name, splitTensors(dataset.source, dataset.splits[name], normalization, dataset.classes)]),
  ) as Record<SplitName, Batchable>
  return {dataset, normalization, tensors, classWeights: inverseFrequencyWeights(tensors.train.y, dataset.classes.length)}
}

/** A split's scores, as metrics.json's `splits` and train's summary give them. */
export type SplitMetrics = SplitScores

/** Scores of a split; `y` and the predictions are class indices into the run's `classCount` classes. */
export function splitMetrics(y: Int32Array, predictions: SplitOutputs, classCount: number): SplitMetrics {
  const report = classificationReport(
    y,
    predictions.predicted,
    Array.from({length: classCount}, (_, i) => i),
  )
  return {samples: y.length, loss: predictions.loss, accuracy: report.accuracy, balanced_accuracy: report.balanced_accuracy, f1_macro: report.macro_avg.f1}
}
