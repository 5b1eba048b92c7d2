import * as tf from '@tensorflow/tfjs-core'

import {weightedCrossEntropy as fusedWeightedCrossEntropy} from '../engine/fused.js'
import type {Network} from './network.js'

/**
 * Class-weighted cross-entropy, averaged as PyTorch's `CrossEntropyLoss(weight=w)`
 * does: sum of w[y_i] * nll_i divided by the sum of w[y_i]. (Its gradient is
 * written out in `src/engine/fused.ts`.)
 */
export function weightedCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, classWeights: tf.Tensor1D): tf.Scalar {
  return fusedWeightedCrossEntropy(logits, labels, classWeights)
}

export interface StepResult {
  loss: number
  /** Number of correct predictions in the batch. */
  correct: number
}

/** One optimisation step: forward in training mode, weighted loss, gradients, optimiser update. */
export function trainStep(
  network: Network,
  optimizer: tf.Optimizer,
  x: tf.Tensor4D,
  labels: tf.Tensor1D,
  classWeights: tf.Tensor1D,
): {loss: tf.Scalar; correct: tf.Scalar} {
  return tf.tidy(() => {
    let predicted: tf.Tensor1D | undefined
    const loss = optimizer.minimize(
      () => {
        const logits = network.logits(x, true)
        predicted = tf.keep(tf.argMax(logits, 1) as tf.Tensor1D)
        return weightedCrossEntropy(logits, labels, classWeights)
      },
      true,
      Object.values(network.params),
    ) as tf.Scalar
    const correct = tf.sum(tf.cast(tf.equal(predicted!, labels), 'int32')) as tf.Scalar
    predicted!.dispose()
    return {loss, correct}
  })
}
