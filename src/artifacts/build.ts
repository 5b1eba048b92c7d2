/**
 * Pure builders: from what a run knows (epoch logs, scores, predictions) to
 * the documents written as artifacts. No I/O here, so each is checked alone.
 */
import {CLASSES, type ClassLabel, MNIST_FILES} from '../config.js'
import {argmaxRow} from '../evaluation/probabilities.js'
import type {ClassificationReport} from '../evaluation/schema.js'
import type {EpochLog} from '../training/schema.js'
import type {LossCurves, Metrics, Prediction, PredictionSplit, Predictions, SplitMetricsBySplit, TimingStats, TrainingDynamics} from './schemas.js'

export interface MetricsInput {
  epochs: readonly EpochLog[]
  bestEpoch: number
  splits: SplitMetricsBySplit
  classificationReport: ClassificationReport
  testClassificationReport?: ClassificationReport
}

export function buildMetrics(input: MetricsInput): Metrics {
  return {
    classes: [...CLASSES],
    epochs: input.epochs.length,
    bestEpoch: input.bestEpoch,
    splits: input.splits,
    classificationReport: input.classificationReport,
    ...(input.testClassificationReport ? {testClassificationReport: input.testClassificationReport} : {}),
  }
}

/** Significant digits kept of each probability: float32 noise (0.8999999761581421) helps no reader. */
const PROBABILITY_DIGITS = 6

function isClassLabel(label: number): label is ClassLabel {
  return (CLASSES as readonly number[]).includes(label)
}

/**
 * Per-sample rows of a split from the model's output. `indices[i]` is sample
 * i's index in its MNIST file, `labels[i]` its true label, and
 * `probs[i * 3 + c]` the probability of CLASSES[c]; the predicted label is the
 * most probable class (the first on a tie).
 */
export function buildPredictionRows(indices: readonly number[], labels: readonly number[], probs: ArrayLike<number>): Prediction[] {
  const k = CLASSES.length
  if (indices.length !== labels.length || probs.length !== labels.length * k) {
    throw new RangeError(`expected ${labels.length} indices and ${labels.length * k} probabilities, got ${indices.length} and ${probs.length}`)
  }

  return labels.map((trueLabel, i) => {
    if (!isClassLabel(trueLabel)) throw new RangeError(`label ${trueLabel} is not one of ${CLASSES.join(', ')}`)
    const row = Array.from({length: k}, (_, c) => Number(probs[i * k + c].toPrecision(PROBABILITY_DIGITS)))
    // Argmax of the raw values, so the label matches what the model predicts even where rounding ties two classes.
    const best = argmaxRow(probs, i, k)
    return {index: i, datasetIndex: indices[i], trueLabel, predictedLabel: CLASSES[best], probs: row}
  })
}

/** Predictions of one split; `datasetIndex` points into the t10k file for `test`, the training file otherwise. */
export function buildPredictions(samples: readonly Prediction[], split: PredictionSplit = 'eval'): Predictions {
  return {
    split,
    datasetFile: split === 'test' ? MNIST_FILES.testImages.name : MNIST_FILES.trainImages.name,
    classes: [...CLASSES],
    samples: [...samples],
  }
}

export function buildLossCurves(epochs: readonly EpochLog[]): LossCurves {
  return {
    epochs: epochs.map((e) => ({
      epoch: e.epoch,
      trainLoss: e.trainLoss,
      trainAccuracy: e.trainAccuracy,
      valLoss: e.valLoss,
      valAccuracy: e.valAccuracy,
      valF1Macro: e.valF1Macro,
    })),
  }
}

export function buildTrainingDynamics(epochs: readonly EpochLog[]): TrainingDynamics {
  const learningRateChanges: TrainingDynamics['learningRateChanges'] = []
  for (let i = 1; i < epochs.length; i++) {
    const from = epochs[i - 1].learningRate
    const to = epochs[i].learningRate
    if (from !== to) learningRateChanges.push({epoch: epochs[i].epoch, from, to})
  }

  return {
    epochs: epochs.map((e) => ({epoch: e.epoch, learningRate: e.learningRate, trainLoss: e.trainLoss, valLoss: e.valLoss})),
    learningRateChanges,
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
  const seconds = epochs.map((e) => e.epochSeconds)
  const sorted = [...seconds].sort((a, b) => a - b)
  const totalSeconds = seconds.reduce((sum, s) => sum + s, 0)
  return {
    epochs: epochs.map((e) => ({epoch: e.epoch, seconds: e.epochSeconds, imagesPerSecond: rate(imagesPerEpoch, e.epochSeconds)})),
    summary: {
      epochs: epochs.length,
      imagesPerEpoch,
      totalSeconds,
      meanSeconds: totalSeconds / epochs.length,
      medianSeconds: median(sorted),
      minSeconds: sorted[0],
      maxSeconds: sorted.at(-1) as number,
      imagesPerSecond: rate(imagesPerEpoch * epochs.length, totalSeconds),
    },
  }
}
