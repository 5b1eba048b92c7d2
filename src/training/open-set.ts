/**
 * The fit-end step that gives best.ckpt its "one of my digits" decision
 * (src/evaluation/openset.ts). It reads the trained network and never changes
 * it, and draws no number from the run's random stream: the default run's
 * weights and metrics are the same with or without it.
 *
 * - `reject: none` (default): the post-hoc score DEFAULT_KNOWN_SCORE of the
 *   validation logits, thresholded at KNOWN_RATE of the validation split;
 * - `reject: other-digits`: a logistic reject head on the frozen features,
 *   positives the training split, negatives a sample of the training file's
 *   other digits (never evaluated); its threshold, likewise, on validation.
 */
import {loadOtherDigits, splitTensors} from '../data/dataset.js'
import {DEFAULT_KNOWN_SCORE, KNOWN_RATE, type OpenSet, fitKnownThreshold, knownRate, knownScores, rejectScores} from '../evaluation/openset.js'
import {fitRejectHead} from '../evaluation/reject-head.js'
import {type Network, networkFeatures} from '../model/network.js'
import type {TrainingConfig} from './config.js'
import type {PreparedData} from './data.js'

/** Other digits of the training file a reject head is fitted against (a seeded sample). */
export const REJECT_NEGATIVES = 5000

export interface OpenSetInput {
  config: Pick<TrainingConfig, 'reject' | 'seed'>
  dataDir: string
  data: PreparedData
  /** The best model's network (read only). */
  network: Network
  /** The best model's validation logits [N × K]. */
  valLogits: Float32Array
  /** The temperature of best.ckpt (1 without calibration). */
  temperature: number
}

export async function fitOpenSet(input: OpenSetInput): Promise<OpenSet> {
  const {config, data, network, temperature} = input
  const k = data.dataset.classes.length
  if (config.reject === 'none') {
    const val = knownScores(input.valLogits, k, DEFAULT_KNOWN_SCORE, temperature)
    const threshold = fitKnownThreshold(val, KNOWN_RATE)
    return {
      score: DEFAULT_KNOWN_SCORE,
      threshold,
      temperature,
      knownRate: KNOWN_RATE,
      fittedOn: 'val',
      valKnownRate: knownRate(val, threshold),
      rejectHead: null,
    }
  }

  const others = await loadOtherDigits(input.dataDir, data.dataset.classes, REJECT_NEGATIVES, config.seed)
  const negatives = splitTensors(others.source, others.split, data.normalization, data.dataset.classes).x
  const own = await networkFeatures(network, data.tensors.train.x)
  const other = await networkFeatures(network, negatives)
  const head = fitRejectHead(own.values, other.values, own.dim)
  const val = rejectScores((await networkFeatures(network, data.tensors.val.x)).values, head)
  const threshold = fitKnownThreshold(val, KNOWN_RATE)
  return {score: 'reject_head', threshold, temperature, knownRate: KNOWN_RATE, fittedOn: 'val', valKnownRate: knownRate(val, threshold), rejectHead: head}
}
