/**
 * A CNN's training-mode forward pass and loss written with plain tfjs ops
 * (moments, batchNorm, relu, maxPool, logSoftmax, taped gradients), built from
 * the network description: the reference the kernel and the fused ops are
 * checked against in tests, and the baseline the step benchmark compares with.
 */
import {tf} from './tf.js'

import {BN_EPSILON, type NetworkDescription} from '../architecture.js'
import type {NetworkVariables} from './cnn-step.js'

/** Logits [B, K] in training mode (batch statistics; running statistics untouched); `dropoutMask` [B × units] multiplies the hidden layer's activations. */
export function plainTrainingLogits(net: NetworkDescription, network: NetworkVariables, x: tf.Tensor4D, dropoutMask?: Float32Array): tf.Tensor2D {
  const p = network.params
  return tf.tidy(() => {
    const block = (input: tf.Tensor4D, conv: string, bn: string, pool: number): tf.Tensor4D => {
      const z = tf.add(tf.conv2d(input, p[`${conv}.kernel`] as tf.Tensor4D, 1, 'same'), p[`${conv}.bias`]) as tf.Tensor4D
      const {mean, variance} = tf.moments(z, [0, 1, 2])
      const normed = tf.batchNorm(z, mean, variance, p[`${bn}.beta`], p[`${bn}.gamma`], BN_EPSILON) as tf.Tensor4D
      return tf.maxPool(tf.relu(normed), pool, pool, 'valid')
    }

    const features = net.blocks.reduce((h, {conv, bn, pool}) => block(h, conv, bn, pool), x)
    let flat = tf.reshape(features, [x.shape[0], -1]) as tf.Tensor2D
    if (net.hidden) {
      const {name, units} = net.hidden
      flat = tf.relu(tf.add(tf.matMul(flat, p[`${name}.kernel`]), p[`${name}.bias`])) as tf.Tensor2D
      if (dropoutMask) flat = tf.mul(flat, tf.tensor2d(dropoutMask, [x.shape[0], units]))
    }

    return tf.add(tf.matMul(flat, p[`${net.dense.name}.kernel`]), p[`${net.dense.name}.bias`]) as tf.Tensor2D
  })
}

/** Σ w[yᵢ]·nllᵢ / Σ w[yᵢ] through logSoftmax, oneHot and gather, of logits + `logitOffsets` when given. */
export function plainWeightedCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, classWeights: tf.Tensor1D, logitOffsets?: ArrayLike<number>): tf.Scalar {
  return tf.tidy(() => {
    const z = logitOffsets ? tf.add(logits, tf.tensor1d(Array.from(logitOffsets))) : logits
    const nll = tf.neg(tf.sum(tf.mul(tf.oneHot(labels, logits.shape[1]), tf.logSoftmax(z)), 1))
    const w = tf.gather(classWeights, labels)
    return tf.div(tf.sum(tf.mul(w, nll)), tf.sum(w)) as tf.Scalar
  })
}
