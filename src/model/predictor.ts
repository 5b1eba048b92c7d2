import {tf} from '../engine/tf.js'

import {type BackendChoice, type ClassLabel, PIXELS} from '../config.js'
import {selectBackend} from '../engine/backend.js'
import {NO_DIGIT, type OpenSet, knownScores, notOneOf, rejectScores} from '../evaluation/openset.js'
import {argmaxRow} from './probabilities.js'
import {type Checkpoint, checkpointId, loadCheckpoint} from './checkpoint.js'
import {type Network, createNetwork, networkFeatures, networkOf} from './network.js'

export interface Prediction {
  /** Probability of each of the model's classes, keyed by label, in the model's order. */
  probs: Record<string, number>
  prediction: ClassLabel
}

/** A prediction with its open-set answer: the contract of `predict` and `POST /api/predict`. */
export interface Answer extends Prediction {
  /** Probability of the predicted digit (the calibrated one when the checkpoint has a temperature). */
  confidence: number
  /** Whether the image is taken as one of the model's digits. */
  known: boolean
  /** Why not, when `known` is false: "no digit", or "not one of 0, 5, 8" (the model's classes). */
  reason?: string
}

/** A checkpoint loaded for inference: normalisation and evaluation-mode forward pass. */
export interface Predictor {
  readonly checkpointId: string
  readonly checkpoint: Checkpoint
  readonly backend: string
  /** The digits the model knows, in logit order (from its checkpoint). */
  readonly classes: readonly ClassLabel[]
  /** Logits are divided by this before the softmax: the checkpoint's fitted temperature, or 1 (uncalibrated). */
  readonly temperature: number
  /** The checkpoint's open-set decision (score and threshold), or null: every image with a stroke is known. */
  readonly openSet: OpenSet | null
  /**
   * Images as 784 values in [0, 1] (white ink on black); normalised here with the checkpoint's statistics.
   * `strokes[i] === false` (preprocessing found no ink) answers image i as "no digit", probabilities still given.
   */
  predict(images: readonly Float32Array[], strokes?: readonly boolean[]): Promise<Answer[]>
  /** The open-set score of images already normalised (higher: more like the model's digits), or null without a decision. */
  knownScores(x: Float32Array, batchSize?: number): Promise<Float64Array | null>
  /** Features the last layer reads [N × F] for images already normalised: what a reject head scores. */
  features(x: Float32Array, batchSize?: number): Promise<{values: Float32Array; dim: number}>
  /** Class probabilities [N × K] for images already normalised, row-major, temperature applied: the batch path of evaluate. */
  probabilities(x: Float32Array, batchSize?: number): Promise<Float32Array>
  /** Raw logits [N × K] for images already normalised (no temperature). */
  logits(x: Float32Array, batchSize?: number): Promise<Float32Array>
  dispose(): void
}

/** `calibrate: false` ignores the checkpoint's temperature (`--no-calibrate`). */
export async function loadPredictor(
  checkpointPath: string,
  options: {backend?: BackendChoice; threads?: number; calibrate?: boolean} = {},
): Promise<Predictor> {
  const checkpoint = await loadCheckpoint(checkpointPath)
  const backend = await selectBackend(options.backend ?? 'auto', {threads: options.threads ?? 1, training: false})
  const network = createNetwork(networkOf(checkpoint.header), checkpoint.values)
  const temperature = options.calibrate === false ? 1 : (checkpoint.header.calibration?.temperature ?? 1)
  return makePredictor(checkpoint, network, backend.name, temperature)
}

function makePredictor(checkpoint: Checkpoint, network: Network, backend: string, temperature: number): Predictor {
  const {mean, std} = checkpoint.header.normalization
  const {classes} = checkpoint.header
  const k = classes.length
  const run = async (x: Float32Array, batchSize: number, head: (logits: tf.Tensor2D) => tf.Tensor2D): Promise<Float32Array> => {
    const n = x.length / PIXELS
    const out = new Float32Array(n * k)
    for (let start = 0; start < n; start += batchSize) {
      const end = Math.min(n, start + batchSize)
      const result = tf.tidy(() => head(network.logits(tf.tensor4d(x.subarray(start * PIXELS, end * PIXELS), [end - start, 28, 28, 1]), false)))
      out.set(await result.data(), start * k)
      result.dispose()
    }

    return out
  }

  const probabilities = (x: Float32Array, batchSize = 512) => run(x, batchSize, (z) => tf.softmax(temperature === 1 ? z : tf.div<tf.Tensor2D>(z, temperature)))
  const logits = (x: Float32Array, batchSize = 512) => run(x, batchSize, (z) => z)
  const features = (x: Float32Array, batchSize = 512) => networkFeatures(network, x, batchSize)

  const {openSet} = checkpoint.header
  const scoreOf = async (x: Float32Array, batchSize = 512): Promise<Float64Array | null> => {
    if (!openSet) return null
    if (openSet.score === 'reject_head') {
      if (!openSet.rejectHead) throw new Error('the checkpoint names the reject head but holds none')
      return rejectScores((await features(x, batchSize)).values, openSet.rejectHead)
    }

    return knownScores(await logits(x, batchSize), k, openSet.score, openSet.temperature)
  }

  return {
    checkpointId: checkpointId(checkpoint),
    checkpoint,
    backend,
    classes,
    temperature,
    openSet,
    probabilities,
    logits,
    features,
    knownScores: scoreOf,
    async predict(images, strokes) {
      const x = new Float32Array(images.length * PIXELS)
      for (const [i, image] of images.entries()) {
        for (let p = 0; p < PIXELS; p++) x[i * PIXELS + p] = (image[p] - mean) / std
      }

      const probs = await probabilities(x)
      const scores = await scoreOf(x)
      return images.map((_, i) => {
        const prediction = toPrediction(probs.subarray(i * k, (i + 1) * k), classes)
        const confidence = prediction.probs[String(prediction.prediction)]
        if (strokes?.[i] === false) return {...prediction, confidence, known: false, reason: NO_DIGIT}
        if (scores && openSet && !(scores[i] >= openSet.threshold)) return {...prediction, confidence, known: false, reason: notOneOf(classes)}
        return {...prediction, confidence, known: true}
      })
    },
    dispose() {
      network.dispose()
    },
  }
}

/** One row of probabilities (in the order of `classes`) as a prediction. */
export function toPrediction(row: ArrayLike<number>, classes: readonly ClassLabel[]): Prediction {
  const best = argmaxRow(row, 0, classes.length)
  const probs = Object.fromEntries(classes.map((label, c) => [String(label), row[c]]))
  return {probs, prediction: classes[best]}
}

/** The TensorFlow.js version predictions run on (for status pages). */
export function tfjsVersion(): string {
  return tf.version_core
}
