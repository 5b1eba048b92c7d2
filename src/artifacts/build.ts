/**
 * Pure builders: from what a run knows (epoch logs, scores, predictions) to
 * the documents written as artifacts, in their file shapes (snake_case,
 * versioned). No I/O here, so each is checked alone.
 */
import {type AnySplitName, type ClassLabel, IMAGE_SIZE, MNIST_FILES, PIXELS} from '../config.js'
import {datasetName} from '../data/classes.js'
import {argmaxRow} from '../model/probabilities.js'
import type {RocCurves} from '../evaluation/roc.js'
import type {ClassificationReport} from '../evaluation/schema.js'
import {type EpochLog, METRICS} from './epoch-log.js'
import {
  ARTIFACT_SCHEMA_VERSION,
  CURVE_LISTS,
  DYNAMICS_METRICS,
  type LossCurves,
  type Metrics,
  type PredictionSample,
  type Predictions,
  type RocCurvesFile,
  type SplitScoresBySplit,
  type TimingStats,
  type TrainingDynamics,
} from './schemas.js'

export interface MetricsInput {
  epochs: readonly EpochLog[]
  bestEpoch: number
  splits: SplitScoresBySplit
  classificationReport: ClassificationReport
}

/** metrics.json: the original's top-level accuracies and losses (its `test` is our held-out `eval` split), then every split's scores. */
export function buildMetrics(input: MetricsInput): Metrics {
  const {train, val, eval: held} = input.splits
  return {
    schema_version: ARTIFACT_SCHEMA_VERSION,
    train_accuracy: train.accuracy,
    val_accuracy: val.accuracy,
    test_accuracy: held.accuracy,
    train_loss: train.loss,
    val_loss: val.loss,
    test_loss: held.loss,
    num_epochs: input.epochs.length,
    best_epoch: input.bestEpoch,
    classes: [...input.classificationReport.labels],
    splits: input.splits,
    classification_report: input.classificationReport,
  }
}

/** Significant digits kept of each probability: float32 noise (0.8999999761581421) helps no reader. */
const PROBABILITY_DIGITS = 6

/**
 * Per-sample rows of a split from the model's output. `indices[i]` is sample
 * i's index in its MNIST file, `labels[i]` its true label, and
 * `probs[i * K + c]` the probability of classes[c]; the predicted label is the
 * most probable class (the first on a tie).
 */
export function buildPredictionRows(
  indices: readonly number[],
  labels: readonly number[],
  probs: ArrayLike<number>,
  classes: readonly ClassLabel[],
): PredictionSample[] {
  const k = classes.length
  if (indices.length !== labels.length || probs.length !== labels.length * k) {
    throw new RangeError(`expected ${labels.length} indices and ${labels.length * k} probabilities, got ${indices.length} and ${probs.length}`)
  }

  return labels.map((trueLabel, i) => {
    if (!classes.includes(trueLabel)) throw new RangeError(`label ${trueLabel} is not one of ${classes.join(', ')}`)
    const row = Array.from({length: k}, (_, c) => Number(probs[i * k + c].toPrecision(PROBABILITY_DIGITS)))
    // Argmax of the raw values, so the label matches what the model predicts even where rounding ties two classes.
    const best = argmaxRow(probs, i, k)
    return {index: i, dataset_index: indices[i], true_label: trueLabel, predicted_label: classes[best], probabilities: row}
  })
}

/** Predictions of one split; `dataset_index` points into the t10k file for `test`, the training file otherwise. */
export function buildPredictions(samples: readonly PredictionSample[], classes: readonly ClassLabel[], split: AnySplitName = 'eval'): Predictions {
  return {
    schema_version: ARTIFACT_SCHEMA_VERSION,
    dataset: datasetName(classes),
    split,
    num_classes: classes.length,
    classes: [...classes],
    dataset_file: split === 'test' ? MNIST_FILES.testImages.name : MNIST_FILES.trainImages.name,
    samples: [...samples],
  }
}

/** loss_curves.json: one list per series, as the original writes it. */
export function buildLossCurves(epochs: readonly EpochLog[]): LossCurves {
  return {
    schema_version: ARTIFACT_SCHEMA_VERSION,
    epochs: epochs.map((e) => e.epoch),
    ...Object.fromEntries(CURVE_LISTS.map(({key, metric}) => [key, epochs.map((e) => e[metric])])),
  } as LossCurves
}

export function buildRocCurves(roc: RocCurves): RocCurvesFile {
  return {schema_version: ARTIFACT_SCHEMA_VERSION, per_class: roc.per_class, macro_auc: roc.macro_auc}
}

export function buildTrainingDynamics(epochs: readonly EpochLog[]): TrainingDynamics {
  const lr = METRICS.learningRate.name
  const changes: TrainingDynamics['learning_rate_changes'] = []
  for (let i = 1; i < epochs.length; i++) {
    const from = epochs[i - 1][lr]
    const to = epochs[i][lr]
    if (from !== to) changes.push({epoch: epochs[i].epoch, from, to})
  }

  return {
    schema_version: ARTIFACT_SCHEMA_VERSION,
    epochs: epochs.map(
      (e) => ({epoch: e.epoch, ...Object.fromEntries(DYNAMICS_METRICS.map(({name}) => [name, e[name]]))}) as TrainingDynamics['epochs'][number],
    ),
    learning_rate_changes: changes,
  }
}

function median(sorted: readonly number[]): number {
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** Images per second, or null when no time was measured (a rate would be infinite). */
function rate(images: number, seconds: number): number | null {
  return seconds > 0 ? images / seconds : null
}

/** Per-epoch durations and their summary; `imagesPerEpoch` is the number of training images one epoch sees. */
export function buildTimingStats(epochs: readonly EpochLog[], imagesPerEpoch: number): TimingStats {
  if (epochs.length === 0) throw new RangeError('timing statistics need at least one epoch')
  const seconds = epochs.map((e) => e[METRICS.epochSeconds.name])
  const sorted = [...seconds].sort((a, b) => a - b)
  const totalSeconds = seconds.reduce((sum, s) => sum + s, 0)
  return {
    schema_version: ARTIFACT_SCHEMA_VERSION,
    epochs: epochs.map((e, i) => ({epoch: e.epoch, seconds: seconds[i], images_per_second: rate(imagesPerEpoch, seconds[i])})),
    summary: {
      epochs: epochs.length,
      images_per_epoch: imagesPerEpoch,
      total_seconds: totalSeconds,
      mean_seconds: totalSeconds / epochs.length,
      median_seconds: median(sorted),
      min_seconds: sorted[0],
      max_seconds: sorted.at(-1) as number,
      images_per_second: rate(imagesPerEpoch * epochs.length, totalSeconds),
    },
  }
}

/** The original's dataset block of run_metadata.json; the test size is the held-out evaluation split's. */
export function datasetSummary(sizes: {train: number; val: number; eval: number}, classes: readonly ClassLabel[]) {
  return {
    name: datasetName(classes),
    num_classes: classes.length,
    num_features: PIXELS,
    image_shape: [IMAGE_SIZE, IMAGE_SIZE] as [typeof IMAGE_SIZE, typeof IMAGE_SIZE],
    train_size: sizes.train,
    val_size: sizes.val,
    test_size: sizes.eval,
  }
}
