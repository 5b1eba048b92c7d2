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
import {binaryRoc} from './roc.js'

export const KNOWN_SCORES = ['max_softmax', 'energy', 'max_logit'] as const
export type KnownScore = (typeof KNOWN_SCORES)[number]

/**
 * The score `predict` thresholds: chosen by `npm run bench:openset` on
 * validation images against training images of the other digits (never t10k).
 */
export const DEFAULT_KNOWN_SCORE: KnownScore = 'max_logit'

/** Share of the validation split's own digits a fitted threshold keeps as known. */
export const KNOWN_RATE = 0.95

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
