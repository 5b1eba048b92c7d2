/**
 * What a training run is given and what it prepares before the loop: the
 * configuration and folders, the curated data with its normalisation, and the
 * per-split scores it reports. Shared by the run (run.ts) and its artifacts
 * (artifacts.ts).
 */
import {CLASSES} from '../config.js'
import {type CuratedDataset, type Normalization, computeNormalization, loadCuratedDataset, splitTensors} from '../data/dataset.js'
import {type SplitName, SPLIT_NAMES} from '../data/split.js'
import {classificationReport} from '../evaluation/metrics.js'
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

export async function prepareData(dataDir: string, config: Pick<TrainingConfig, 'seed' | 'eval_ratio' | 'val_ratio' | 'class_counts'>): Promise<PreparedData> {
  const dataset = await loadCuratedDataset({dataDir, seed: config.seed, evalRatio: config.eval_ratio, valRatio: config.val_ratio, classCounts: config.class_counts})
  // Statistics from the training split only: validation and evaluation never leak into them.
  const normalization = computeNormalization(dataset.source, dataset.splits.train)
  const tensors = Object.fromEntries(SPLIT_NAMES.map((name) => [name, splitTensors(dataset.source, dataset.splits[name], normalization)])) as Record<
    SplitName,
    Batchable
  >
  return {dataset, normalization, tensors, classWeights: inverseFrequencyWeights(tensors.train.y)}
}

export interface SplitMetrics {
  loss: number
  accuracy: number
  macroAccuracy: number
  f1Macro: number
  size: number
}

export function splitMetrics(y: Int32Array, predictions: SplitOutputs): SplitMetrics {
  const report = classificationReport(y, predictions.predicted, CLASSES.map((_, i) => i))
  return {loss: predictions.loss, accuracy: report.accuracy, macroAccuracy: report.macroAccuracy, f1Macro: report.macroAvg.f1, size: y.length}
}
