import type {AnySplitName} from '../config.js'
import {loadCuratedDataset, loadTestSplit, splitTensors} from '../data/dataset.js'
import type {IdxImages} from '../data/idx.js'
import {type Split, type SplitName, checkClassCounts} from '../data/split.js'
import {UserError} from '../errors.js'
import type {Checkpoint} from '../model/checkpoint.js'
import type {Predictor} from '../model/predictor.js'
import {expectedCalibrationError, softmaxWithTemperature} from './calibration.js'
import {classificationReport} from './metrics.js'
import {type DecisionScore, knownRate} from './openset.js'
import {argmaxRow} from '../model/probabilities.js'
import type {ClassificationReport} from './schema.js'

/** Any split evaluate accepts: the curated subset's three (SPLIT_NAMES) and the official test set. */
export type EvalSplit = AnySplitName

export interface SplitData {
  source: IdxImages
  split: Split
  fingerprint: string
}

/**
 * Rebuild the split a checkpoint was trained with from `dataDir` (its seed,
 * ratios and class counts) and check it is the same data; `test` is every
 * image of the official t10k set of the checkpoint's classes.
 */
export async function rebuildSplit(checkpoint: Checkpoint, dataDir: string, split: EvalSplit): Promise<SplitData> {
  const {data, classes} = checkpoint.header
  if (split === 'test') return loadTestSplit(dataDir, classes)
  const classCounts = Object.fromEntries(Object.entries(data.classCounts).map(([label, count]) => [Number(label), count]))
  checkClassCounts(classCounts, classes)
  const dataset = await loadCuratedDataset({dataDir, seed: data.seed, evalRatio: data.evalRatio, valRatio: data.valRatio, classCounts})
  const name: SplitName = split
  if (dataset.fingerprints[name] !== data.fingerprints[name]) {
    throw new UserError(
      `the ${name} split rebuilt from ${dataDir} (fingerprint ${dataset.fingerprints[name]}) is not the one this checkpoint was trained with (${data.fingerprints[name]}): other data files, or a different package version`,
    )
  }

  return {source: dataset.source, split: dataset.splits[name], fingerprint: dataset.fingerprints[name]}
}

export interface Evaluation {
  split: EvalSplit
  fingerprint: string
  report: ClassificationReport
  /** Probabilities [N × K] in the order of the model's classes, with the predictor's temperature applied. */
  probs: Float32Array
  /** The network's own probabilities (temperature 1), for the before/after comparison. */
  uncalibratedProbs: Float32Array
  predicted: number[]
  /** Temperature applied, and expected calibration error (15 bins) without and with it. */
  calibration: {temperature: number; ece: {before: number; after: number}}
  /**
   * The checkpoint's open-set decision on this split: its score and threshold, and the share of the
   * split's images (all of them the model's own digits) it answers as known. Null without a stored decision.
   */
  openSet: {score: DecisionScore; threshold: number; knownRate: number} | null
  seconds: number
  imagesPerSecond: number
}

/** One batched pass over a split with the checkpoint's normalisation. */
export async function evaluateSplit(predictor: Predictor, data: SplitData, split: EvalSplit, batchSize: number): Promise<Evaluation> {
  const {classes} = predictor
  const k = classes.length
  const {x} = splitTensors(data.source, data.split, predictor.checkpoint.header.normalization, classes)
  const started = performance.now()
  const logits = await predictor.logits(x, batchSize)
  const seconds = (performance.now() - started) / 1000
  const uncalibratedProbs = softmaxWithTemperature(logits, 1, k)
  const probs = softmaxWithTemperature(logits, predictor.temperature, k)
  // Argmax of the logits: the same under any temperature.
  const predicted = data.split.labels.map((_, i) => classes[argmaxRow(logits, i, k)])
  const report = classificationReport(data.split.labels, predicted, classes)
  const classIndex = data.split.labels.map((label) => classes.indexOf(label))
  const ece = {before: expectedCalibrationError(uncalibratedProbs, classIndex, k), after: expectedCalibrationError(probs, classIndex, k)}
  const scores = await predictor.knownScores(x, batchSize)
  const decision = predictor.openSet
  const openSet = scores && decision ? {score: decision.score, threshold: decision.threshold, knownRate: knownRate(scores, decision.threshold)} : null
  return {
    split,
    fingerprint: data.fingerprint,
    report,
    probs,
    uncalibratedProbs,
    predicted,
    calibration: {temperature: predictor.temperature, ece},
    openSet,
    seconds,
    imagesPerSecond: data.split.labels.length / Math.max(seconds, 1e-9),
  }
}
