import {tf} from '../engine/tf.js'

import {kernelTrainStep, stepKernel} from '../engine/cnn-step.js'
import {dropoutMask} from '../engine/dropout.js'
import {weightedCrossEntropy as fusedWeightedCrossEntropy} from '../engine/fused.js'
import type {Network} from './network.js'

/**
 * Class-weighted cross-entropy, averaged as PyTorch's `CrossEntropyLoss(weight=w)`
 * does: sum of w[y_i] * nll_i divided by the sum of w[y_i]. (Its gradient is
 * written out in `src/engine/fused.ts`.) With `logitOffsets` (one per class),
 * the loss of logits + offsets: the logit-adjusted loss, with offsets = log prior.
 */
export function weightedCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, classWeights: tf.Tensor1D, logitOffsets?: ArrayLike<number>): tf.Scalar {
  if (!logitOffsets) return fusedWeightedCrossEntropy(logits, labels, classWeights)
  return tf.tidy(() => fusedWeightedCrossEntropy(tf.add(logits, tf.tensor1d(Array.from(logitOffsets), 'float32')), labels, classWeights))
}

/** What a training step takes beyond the batch. */
export interface StepOptions {
  /**
   * Added to the logits in the loss only (prediction reads the raw logits):
   * log of the class priors for the logit-adjusted loss; none, the plain weighted loss.
   */
  logitOffsets?: ArrayLike<number>
  /** The dropout mask of step t is drawn from (this seed, t): the run's seed. */
  dropoutSeed?: number
}

/** The dropout multipliers of this step, for a network with a hidden layer. */
function stepMask(network: Network, optimizer: tf.Optimizer, batch: number, seed: number): Float32Array | undefined {
  const hidden = network.description.hidden
  return hidden ? dropoutMask(hidden.dropout, hidden.units, seed, optimizer.iterations, 0, batch) : undefined
}

/**
 * One optimisation step: forward in training mode, weighted loss, gradients, optimiser update.
 * A CNN with Adam on wasm runs our own WebAssembly kernel (`src/engine/cnn-step.ts`);
 * anything else (the softmax baseline, the cpu and native backends, other
 * optimisers) runs taped ops through `optimizer.minimize`. Both draw the same
 * dropout mask for a step (`src/engine/dropout.ts`).
 */
export function trainStep(
  network: Network,
  optimizer: tf.Optimizer,
  x: tf.Tensor4D,
  labels: tf.Tensor1D,
  classWeights: tf.Tensor1D,
  options: StepOptions = {},
): {loss: tf.Scalar; correct: tf.Scalar} {
  if (network.description.blocks.length > 0 && optimizer instanceof tf.AdamOptimizer) {
    const kernel = x.shape[1] === 28 && x.shape[2] === 28 ? stepKernel(network.description) : undefined
    if (kernel) {
      const dropout = {seed: options.dropoutSeed ?? 0, step: optimizer.iterations}
      const {loss, correct} = kernelTrainStep(kernel, network, optimizer, x, labels, classWeights, {logitOffsets: options.logitOffsets, dropout})
      return {loss: tf.scalar(loss), correct: tf.scalar(correct, 'int32')}
    }
  }

  return tapedTrainStep(network, optimizer, x, labels, classWeights, options)
}

/** The step through the gradient tape: any network, optimiser and backend. */
export function tapedTrainStep(
  network: Network,
  optimizer: tf.Optimizer,
  x: tf.Tensor4D,
  labels: tf.Tensor1D,
  classWeights: tf.Tensor1D,
  options: StepOptions = {},
): {loss: tf.Scalar; correct: tf.Scalar} {
  const mask = stepMask(network, optimizer, x.shape[0], options.dropoutSeed ?? 0)
  return tf.tidy(() => {
    let predicted: tf.Tensor1D | undefined
    const loss = optimizer.minimize(
      () => {
        const logits = network.logits(x, true, mask)
        predicted = tf.keep(tf.argMax(logits, 1) as tf.Tensor1D)
        return weightedCrossEntropy(logits, labels, classWeights, options.logitOffsets)
      },
      true,
      Object.values(network.params),
    ) as tf.Scalar
    const correct = tf.sum(tf.cast(tf.equal(predicted!, labels), 'int32')) as tf.Scalar
    predicted!.dispose()
    return {loss, correct}
  })
}
