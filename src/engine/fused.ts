/**
 * Fused training ops for the CNN, each with a hand-written gradient
 * (`tf.customGrad`): the forward pass runs untaped, so the gradient tape holds
 * one node per fused op instead of a dozen per batch-norm. On wasm, where every
 * engine op costs tens of microseconds of bookkeeping, that overhead is a large
 * part of a step; the maths is also arranged for XNNPACK's fast kernels
 * (per-channel sums as matrix products with a row of ones, per-channel affine
 * maps as 1×1 depthwise convolutions).
 *
 * Plain tfjs ops only, so they run (and are checked) on every backend.
 */
import {tf} from './tf.js'

export interface BatchStatistics {
  /** Per-channel batch mean, [C]. */
  mean: tf.Tensor1D
  /** Per-channel biased batch variance (divided by N), [C]. */
  variance: tf.Tensor1D
  /** N: the number of values each statistic is over. */
  count: number
}

/**
 * maxPool2×2(relu(batchNorm(x))) in training mode (batch statistics), with
 * `onStatistics` called during the forward pass so the caller can update
 * running averages. x: [B, H, W, C] → [B, ⌊H/2⌋, ⌊W/2⌋, C].
 */
export function batchNormReluPool(
  x: tf.Tensor4D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
  onStatistics?: (stats: BatchStatistics) => void,
): tf.Tensor4D {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [input, gammaIn, betaIn, save] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc]
    const [b, h, w] = input.shape
    const n = b * h * w
    const mean = channelMeans(input)
    const centered = tf.sub(input, mean) as tf.Tensor4D
    const variance = channelMeans(tf.square(centered))
    const invStd = tf.rsqrt(tf.add(variance, epsilon)) as tf.Tensor1D
    const scale = tf.mul(gammaIn, invStd) as tf.Tensor1D
    const activation = affine(centered, scale, betaIn, 'relu')
    const pooled = tf.maxPool(activation, 2, 2, 'valid')
    onStatistics?.({mean, variance, count: n})
    save([activation, pooled, centered, invStd, gammaIn])
    return {
      value: pooled,
      gradFunc: (dy: tf.Tensor4D, saved: tf.Tensor[]) => batchNormReluPoolGrad(dy, saved, n),
    }
  })
  return op(x, gamma, beta) as tf.Tensor4D
}

function batchNormReluPoolGrad(dy: tf.Tensor4D, saved: tf.Tensor[], n: number): tf.Tensor[] {
  const [activation, pooled, centered, inv, gamma] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.Tensor1D]
  // Through the pool (to each window's maximum) and the ReLU (where it passed).
  const throughPool = tf.engine().runKernel(tf.MaxPoolGrad, {dy, input: activation, output: pooled}, {filterSize: 2, strides: 2, pad: 'valid'}) as tf.Tensor4D
  const g = tf.mul(throughPool, tf.step(activation)) as tf.Tensor4D
  const meanG = channelMeans(g)
  const meanGCentered = channelMeans(tf.mul(g, centered) as tf.Tensor4D)
  // dx = γ/σ · (g − mean(g) − x̂·mean(g·x̂)), with x̂ = (x − μ)/σ, split into per-channel affine maps.
  const a = tf.mul(gamma, inv) as tf.Tensor1D
  const k = tf.neg(tf.mul(tf.mul(a, tf.square(inv)), meanGCentered)) as tf.Tensor1D
  const offset = tf.neg(tf.mul(a, meanG)) as tf.Tensor1D
  const dx = tf.add(affine(g, a, offset), affine(centered, k))
  const dGamma = tf.mul(tf.mul(meanGCentered, inv), n)
  const dBeta = tf.mul(meanG, n)
  return [dx, dGamma, dBeta]
}

/** Per-channel means of [B, H, W, C] → [C]: a global average pool (one XNNPACK pass), then a mean over the batch. */
function channelMeans(x: tf.Tensor4D): tf.Tensor1D {
  const [, h, w, c] = x.shape
  return tf.reshape(tf.mean(tf.avgPool(x, [h, w], 1, 'valid'), 0), [c])
}

/** x·scale + offset per channel (then the activation), as one 1×1 depthwise convolution. */
function affine(x: tf.Tensor4D, scale: tf.Tensor1D, offset?: tf.Tensor1D, activation: 'linear' | 'relu' = 'linear'): tf.Tensor4D {
  const channels = x.shape[3]
  return tf.fused.depthwiseConv2d({
    x,
    filter: tf.reshape(scale, [1, 1, channels, 1]) as tf.Tensor4D,
    strides: 1,
    pad: 'valid',
    bias: offset,
    activation,
  })
}

/**
 * Class-weighted cross-entropy averaged as PyTorch's `CrossEntropyLoss(weight=w)`:
 * Σ w[yᵢ]·nllᵢ / Σ w[yᵢ]. Its gradient, (softmax − onehot)·w[yᵢ]/Σw, is
 * written out instead of taped through logSoftmax, gather and the sums.
 */
export function weightedCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, classWeights: tf.Tensor1D): tf.Scalar {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [input, save] = args as [tf.Tensor2D, tf.GradSaveFunc]
    const logProbs = tf.logSoftmax(input)
    const oneHot = tf.oneHot(labels, input.shape[1])
    const w = tf.gather(classWeights, labels)
    const total = tf.sum(w)
    const perSample = tf.div(w, total)
    const loss = tf.neg(tf.sum(tf.mul(tf.sum(tf.mul(oneHot, logProbs), 1), perSample))) as tf.Scalar
    save([logProbs, oneHot, perSample])
    return {
      value: loss,
      gradFunc: (dy: tf.Scalar, saved: tf.Tensor[]) => {
        const [savedLogProbs, savedOneHot, savedPerSample] = saved
        const scale = tf.mul(tf.expandDims(savedPerSample, 1), dy)
        return [tf.mul(tf.sub(tf.exp(savedLogProbs), savedOneHot), scale)]
      },
    }
  })
  return op(logits) as tf.Scalar
}
