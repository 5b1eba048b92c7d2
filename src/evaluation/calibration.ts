/**
 * Calibration: temperature scaling (Guo et al. 2017, "On Calibration of Modern
 * Neural Networks") and expected calibration error with equal-width bins.
 *
 * Dividing every logit by one T > 0 keeps their order, so the predicted class
 * never changes; only how sure the probabilities say the model is.
 */
import {argmaxRow} from '../model/probabilities.js'

/** The paper's tables use 15 bins; so does everything this package reports. */
export const ECE_BINS = 15

/** Search range of T: far beyond anything a trained network needs, and keeps exp() finite. */
const LOG_T_RANGE = [Math.log(0.05), Math.log(20)] as const

/** Softmax of logits / T, row by row ([N × k] row-major). */
export function softmaxWithTemperature(logits: ArrayLike<number>, temperature: number, k: number): Float32Array {
  const out = new Float32Array(logits.length)
  for (let row = 0; row * k < logits.length; row++) {
    let max = Number.NEGATIVE_INFINITY
    for (let c = 0; c < k; c++) max = Math.max(max, logits[row * k + c] / temperature)
    let sum = 0
    for (let c = 0; c < k; c++) sum += Math.exp(logits[row * k + c] / temperature - max)
    for (let c = 0; c < k; c++) out[row * k + c] = Math.exp(logits[row * k + c] / temperature - max) / sum
  }

  return out
}

/** Mean negative log-likelihood of the true classes under softmax(logits / T) (unweighted, as in the paper). */
export function nllWithTemperature(logits: ArrayLike<number>, labels: ArrayLike<number>, temperature: number, k: number): number {
  let total = 0
  for (let row = 0; row < labels.length; row++) {
    let max = Number.NEGATIVE_INFINITY
    for (let c = 0; c < k; c++) max = Math.max(max, logits[row * k + c] / temperature)
    let sum = 0
    for (let c = 0; c < k; c++) sum += Math.exp(logits[row * k + c] / temperature - max)
    total += max + Math.log(sum) - logits[row * k + labels[row]] / temperature
  }

  return labels.length === 0 ? 0 : total / labels.length
}

/**
 * The temperature that minimises the validation NLL. The NLL is convex in 1/T,
 * so it has one minimum along log T, found by golden-section search to ~1e-6
 * in log T. `labels` are class indices (into the model's classes), not digit labels.
 *
 * A split the model classifies without error has no minimum: the NLL keeps
 * falling as T → 0 (every probability → 1). The search then ends at the edge
 * of its range, and T = 1 is returned rather than an arbitrary, extreme one.
 */
export function fitTemperature(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  if (labels.length === 0) return 1
  const f = (logT: number) => nllWithTemperature(logits, labels, Math.exp(logT), k)
  const ratio = (Math.sqrt(5) - 1) / 2
  let [low, high] = LOG_T_RANGE
  let x1 = high - ratio * (high - low)
  let x2 = low + ratio * (high - low)
  let f1 = f(x1)
  let f2 = f(x2)
  while (high - low > 1e-6) {
    if (f1 <= f2) {
      high = x2
      x2 = x1
      f2 = f1
      x1 = high - ratio * (high - low)
      f1 = f(x1)
    } else {
      low = x1
      x1 = x2
      f1 = f2
      x2 = low + ratio * (high - low)
      f2 = f(x2)
    }
  }

  const logT = (low + high) / 2
  if (logT - LOG_T_RANGE[0] < 1e-3 || LOG_T_RANGE[1] - logT < 1e-3) return 1
  // Never worse than leaving the model alone (a flat NLL leaves the search anywhere).
  return f(logT) < f(0) ? Math.exp(logT) : 1
}

/** One bin of a reliability diagram: predictions whose confidence lies in (lower, upper]. */
export interface ReliabilityBin {
  lower: number
  upper: number
  count: number
  /** Share of the bin's predictions that are right (null for an empty bin). */
  accuracy: number | null
  /** Mean confidence (top probability) in the bin (null for an empty bin). */
  confidence: number | null
}

export interface Reliability {
  bins: ReliabilityBin[]
  /** Expected calibration error: Σ |B|/n · |accuracy(B) − confidence(B)|. */
  ece: number
  samples: number
}

/**
 * Confidence (top probability) against accuracy in `bins` equal-width bins
 * over [0, 1]; bin b holds confidences in (b/bins, (b+1)/bins], as the paper's
 * code does. `labels` are class indices (into the model's classes).
 */
export function reliability(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number, bins = ECE_BINS): Reliability {
  const count = new Array<number>(bins).fill(0)
  const right = new Array<number>(bins).fill(0)
  const confidence = new Array<number>(bins).fill(0)
  for (let i = 0; i < labels.length; i++) {
    const best = argmaxRow(probs, i, k)
    const top = probs[i * k + best]
    const bin = Math.min(bins - 1, Math.max(0, Math.ceil(top * bins) - 1))
    count[bin] += 1
    confidence[bin] += top
    if (best === labels[i]) right[bin] += 1
  }

  let ece = 0
  const out: ReliabilityBin[] = count.map((n, b) => {
    const accuracy = n === 0 ? null : right[b] / n
    const meanConfidence = n === 0 ? null : confidence[b] / n
    if (n > 0) ece += (n / labels.length) * Math.abs(accuracy! - meanConfidence!)
    return {lower: b / bins, upper: (b + 1) / bins, count: n, accuracy, confidence: meanConfidence}
  })
  return {bins: out, ece, samples: labels.length}
}

/** Expected calibration error with equal-width bins (15 by default, as the paper reports). */
export function expectedCalibrationError(probs: ArrayLike<number>, labels: ArrayLike<number>, k: number, bins = ECE_BINS): number {
  return reliability(probs, labels, k, bins).ece
}
