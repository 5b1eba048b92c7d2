/**
 * The CNN's training-mode forward pass and loss written with plain tfjs ops
 * (moments, batchNorm, relu, maxPool, logSoftmax, taped gradients): the
 * reference the fused ops are checked against in tests, and the baseline the
 * step benchmark compares with.
 */
import {tf} from './tf.js'

import {BN_EPSILON} from '../architecture.js'
import type {NetworkVariables} from './cnn-step.js'

/** Logits [B, 3] in training mode (batch statistics; running statistics untouched). */
export function plainTrainingLogits(network: NetworkVariables, x: tf.Tensor4D): tf.Tensor2D {
  const p = network.params
  return tf.tidy(() => {
    const block = (input: tf.Tensor4D, conv: string, bn: string): tf.Tensor4D => {
      const z = tf.add(tf.conv2d(input, p[`${conv}.kernel`] as tf.Tensor4D, 1, 'same'), p[`${conv}.bias`]) as tf.Tensor4D
      const {mean, variance} = tf.moments(z, [0, 1, 2])
      const normed = tf.batchNorm(z, mean, variance, p[`${bn}.beta`], p[`${bn}.gamma`], BN_EPSILON) as tf.Tensor4D
      return tf.maxPool(tf.relu(normed), 2, 2, 'valid')
    }

    const h2 = block(block(x, 'conv1', 'bn1'), 'conv2', 'bn2')
    const flat = tf.reshape(h2, [x.shape[0], -1])
    return tf.add(tf.matMul(flat, p['dense.kernel']), p['dense.bias']) as tf.Tensor2D
  })
}

/** Σ w[yᵢ]·nllᵢ / Σ w[yᵢ] through logSoftmax, oneHot and gather. */
export function plainWeightedCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, classWeights: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const nll = tf.neg(tf.sum(tf.mul(tf.oneHot(labels, logits.shape[1]), tf.logSoftmax(logits)), 1))
    const w = tf.gather(classWeights, labels)
    return tf.div(tf.sum(tf.mul(w, nll)), tf.sum(w)) as tf.Scalar
  })
}
