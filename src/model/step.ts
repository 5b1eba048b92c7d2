import {tf} from '../engine/tf.js'

import {applyAdam} from '../engine/adam.js'
import {CNN_GRADIENTS, type CnnParameter, cnnGradients} from '../engine/cnn-gradients.js'
import {kernelTrainStep, stepKernel} from '../engine/cnn-step.js'
import {weightedCrossEntropy as fusedWeightedCrossEntropy} from '../engine/fused.js'
import {BN_EPSILON, type Network, kernelFits, updateRunningStatistics} from './network.js'

/**
 * Class-weighted cross-entropy, averaged as PyTorch's `CrossEntropyLoss(weight=w)`
 * does: sum of w[y_i] * nll_i divided by the sum of w[y_i]. (Its gradient is
 * written out in `src/engine/fused.ts`.)
 */
export function weightedCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, classWeights: tf.Tensor1D): tf.Scalar {
  return fusedWeightedCrossEntropy(logits, labels, classWeights)
}

/**
 * One optimisation step: forward in training mode, weighted loss, gradients, optimiser update.
 * The CNN with Adam on wasm runs our own WebAssembly kernel (`src/engine/cnn-step.ts`)
 * where relaxed SIMD is available, else the one-kernel path through XNNPACK
 * (`src/engine/cnn-gradients.ts`, `src/engine/adam.ts`); anything else runs taped
 * ops through `optimizer.minimize`.
 */
export function trainStep(
  network: Network,
  optimizer: tf.Optimizer,
  x: tf.Tensor4D,
  labels: tf.Tensor1D,
  classWeights: tf.Tensor1D,
): {loss: tf.Scalar; correct: tf.Scalar} {
  if (network.kind === 'cnn' && optimizer instanceof tf.AdamOptimizer) {
    const kernel = x.shape[1] === 28 && x.shape[2] === 28 && kernelFits(network.params) ? stepKernel() : undefined
    if (kernel) {
      const {loss, correct} = kernelTrainStep(kernel, network, optimizer, x, labels, classWeights)
      return {loss: tf.scalar(loss), correct: tf.scalar(correct, 'int32')}
    }

    if (tf.getKernel(CNN_GRADIENTS, tf.getBackend())) return oneKernelTrainStep(network, optimizer, x, labels, classWeights)
  }

  return tapedTrainStep(network, optimizer, x, labels, classWeights)
}

/** The step through the gradient tape: any network, optimiser and backend. */
export function tapedTrainStep(
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

function oneKernelTrainStep(
  network: Network,
  optimizer: tf.AdamOptimizer,
  x: tf.Tensor4D,
  labels: tf.Tensor1D,
  classWeights: tf.Tensor1D,
): {loss: tf.Scalar; correct: tf.Scalar} {
  return tf.tidy(() => {
    const {loss, correct, gradients, statistics} = cnnGradients(x, labels, classWeights, network.params, BN_EPSILON)
    updateRunningStatistics(network.buffers, 'bn1', statistics[0])
    updateRunningStatistics(network.buffers, 'bn2', statistics[1])
    // The order of Object.values(params), as minimize() passes them: Adam keys its slots by position.
    const names = Object.keys(network.params) as CnnParameter[]
    applyAdam(
      optimizer,
      names.map((name) => network.params[name]),
      names.map((name) => gradients[name]),
    )
    return {loss, correct}
  })
}
