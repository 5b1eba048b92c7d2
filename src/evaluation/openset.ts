/**
 * "Is this one of my digits?": a score per image from the network's logits,
 * high for the digits the model was trained on, low for anything else, and a
 * threshold on it fitted on the validation split so that a chosen share of the
 * model's own digits (the known-rate, 95%) stays above it.
 *
 * Scores (all from the logits z of one image, with the checkpoint's temperature T):
 * - `max_softmax`: max softmax(z / T) (Hendrycks & Gimpel 2017), the calibrated confidence;
 * - `energy`: T · logsumexp(z / T) (Liu et al. 2020);
 * - `max_logit`: max z (Vaze et al. 2022).
 * bench/openset.ts measures which separates other digits best (`npm run bench:openset`).
 */
import {z} from 'zod'

import {binaryRoc} from './roc.js'

export const KNOWN_SCORES = ['max_softmax', 'energy', 'max_logit'] as const
export type KnownScore = (typeof KNOWN_SCORES)[number]

/**
 * The post-hoc score a run thresholds when it trains no reject head: chosen by
 * `npm run bench:openset` on validation images against training images of the
 * other digits (never t10k), where the calibrated max softmax separated best
 * (mean AUROC 0.881 over three seeds, against 0.876 for energy and max logit).
 */
export const DEFAULT_KNOWN_SCORE: KnownScore = 'max_softmax'

/** Share of the validation split's own digits a fitted threshold keeps as known. */
export const KNOWN_RATE = 0.95

/**
 * The open-set decision a checkpoint carries (`open_set` in its header): the
 * score, the threshold fitted on the validation split and, for the reject
 * option, the logistic head on the network's features. Checkpoints written
 * before it existed carry none: their answers are "known" unless the image
 * holds no digit.
 */
export const REJECT_OPTIONS = ['none', 'other-digits'] as const
export type RejectOption = (typeof REJECT_OPTIONS)[number]

/** The scores a checkpoint's decision can use: a post-hoc one from the logits, or the trained reject head. */
export const DECISION_SCORES = [...KNOWN_SCORES, 'reject_head'] as const
export type DecisionScore = (typeof DECISION_SCORES)[number]

export const RejectHeadSchema = z.object({
  /** One weight per feature the network's last layer reads, then the bias: score = w·f + b (the log-odds of "one of my digits"). */
  weights: z.array(z.number()),
  bias: z.number(),
  /** Images it was fitted on: the training split's own digits, and other digits of the training file. */
  positives: z.int().positive(),
  negatives: z.int().positive(),
})
export type RejectHead = z.infer<typeof RejectHeadSchema>

export const OpenSetSchema = z.object({
  score: z.enum(DECISION_SCORES),
  threshold: z.number(),
  /** The temperature the score was computed with (the calibration's, fixed here so --no-calibrate leaves the decision alone). */
  temperature: z.number().positive(),
  knownRate: z.number().gt(0).lte(1),
  fittedOn: z.literal('val'),
  /** The known-rate the threshold gives on the validation split itself (at least `knownRate`). */
  valKnownRate: z.number().min(0).max(1),
  rejectHead: RejectHeadSchema.nullable(),
})
export type OpenSet = z.infer<typeof OpenSetSchema>

/** Why an answer is not one of the model's digits. */
export const NO_DIGIT = 'no digit'

/** `not one of 0, 5, 8`: worded from the model's own classes. */
export function notOneOf(classes: readonly number[]): string {
  return `not one of ${classes.join(', ')}`
}

/** Reject-head scores of rows of features [N × F], row-major. */
export function rejectScores(features: ArrayLike<number>, head: Pick<RejectHead, 'weights' | 'bias'>): Float64Array {
  const f = head.weights.length
  const n = features.length / f
  const out = new Float64Array(n)
  for (let row = 0; row < n; row++) {
    let sum = head.bias
    for (let i = 0; i < f; i++) sum += head.weights[i] * features[row * f + i]
    out[row] = sum
  }

  return out
}

/** The score of each row of logits [N × k], row-major. */
export function knownScores(logits: ArrayLike<number>, k: number, kind: KnownScore, temperature = 1): Float64Array {
  const n = logits.length / k
  const out = new Float64Array(n)
  for (let row = 0; row < n; row++) {
    let max = -Infinity
    for (let c = 0; c < k; c++) max = Math.max(max, logits[row * k + c])
    if (kind === 'max_logit') {
      out[row] = max
      continue
    }

    let sum = 0
    for (let c = 0; c < k; c++) sum += Math.exp((logits[row * k + c] - max) / temperature)
    // max softmax = exp(max/T) / Σ exp(z/T) = 1 / Σ exp((z − max)/T); energy = max + T·log Σ exp((z − max)/T).
    out[row] = kind === 'max_softmax' ? 1 / sum : max + temperature * Math.log(sum)
  }

  return out
}

/**
 * The threshold that keeps `knownRate` of `ownScores` (the model's own digits)
 * at or above it: their (1 − knownRate) quantile, taken as an order statistic
 * so that at least `knownRate` of them pass.
 */
export function fitKnownThreshold(ownScores: ArrayLike<number>, knownRate = KNOWN_RATE): number {
  if (ownScores.length === 0) throw new RangeError('a threshold needs at least one score')
  const sorted = Float64Array.from(ownScores).sort()
  const passing = Math.ceil(knownRate * sorted.length)
  return sorted[sorted.length - passing]
}

/** Share of `scores` at or above `threshold`: the known-rate of a set of images. */
export function knownRate(scores: ArrayLike<number>, threshold: number): number {
  let known = 0
  for (let i = 0; i < scores.length; i++) if (scores[i] >= threshold) known++
  return scores.length === 0 ? 0 : known / scores.length
}

/** AUROC of own digits (positives) against other images (negatives) by score. */
export function openSetAuroc(own: ArrayLike<number>, other: ArrayLike<number>): number {
  const positive = [...Array.from(own, () => true), ...Array.from(other, () => false)]
  const auc = binaryRoc(positive, [...Array.from(own), ...Array.from(other)]).auc
  if (auc === null) throw new RangeError('AUROC needs own and other images')
  return auc
}
