/**
 * The reject option: a logistic head on the features the network's last layer
 * reads (frozen), trained to tell the model's own digits from other digits.
 * It never touches the classifier: its weights are its own, and it draws no
 * random numbers (full-batch Adam from zero weights).
 */
import {tf} from '../engine/tf.js'

import type {RejectHead} from './openset.js'

export interface RejectHeadOptions {
  /** Full-batch Adam steps. */
  steps?: number
  learningRate?: number
  /** L2 penalty on the (standardised) weights. */
  l2?: number
}

/** Fitted on standardised features (so one learning rate suits every feature's scale); returned folded back to raw features. */
const DEFAULTS = {steps: 300, learningRate: 0.05, l2: 1e-3} as const

/**
 * Fit w, b so that sigmoid(w·f + b) is the probability that features f come
 * from one of the model's digits: `own` [P × F] are positives, `other` [N × F]
 * negatives, each set weighing half of the loss whatever its size.
 */
export function fitRejectHead(own: Float32Array, other: Float32Array, dim: number, options: RejectHeadOptions = {}): RejectHead {
  const {steps, learningRate, l2} = {...DEFAULTS, ...options}
  const positives = own.length / dim
  const negatives = other.length / dim
  if (!Number.isInteger(positives) || !Number.isInteger(negatives) || positives === 0 || negatives === 0) {
    throw new RangeError('a reject head needs features of own digits and of other digits')
  }

  const n = positives + negatives
  const x = new Float32Array(n * dim)
  x.set(own)
  x.set(other, own.length)
  const mean = new Float64Array(dim)
  const std = new Float64Array(dim)
  for (let row = 0; row < n; row++) for (let i = 0; i < dim; i++) mean[i] += x[row * dim + i] / n
  for (let row = 0; row < n; row++) for (let i = 0; i < dim; i++) std[i] += (x[row * dim + i] - mean[i]) ** 2 / n
  // A feature that never varies (a ReLU that never fires) gets no weight: its standardised value is 0.
  for (let i = 0; i < dim; i++) std[i] = std[i] > 1e-12 ? Math.sqrt(std[i]) : Infinity
  for (let row = 0; row < n; row++) for (let i = 0; i < dim; i++) x[row * dim + i] = (x[row * dim + i] - mean[i]) / std[i]
  const y = new Float32Array(n)
  const weight = new Float32Array(n)
  y.fill(1, 0, positives)
  weight.fill(0.5 / positives, 0, positives)
  weight.fill(0.5 / negatives, positives)

  const [w, b] = tf.tidy(() => {
    const xs = tf.tensor2d(x, [n, dim])
    const ys = tf.tensor2d(y, [n, 1])
    const ws = tf.tensor2d(weight, [n, 1])
    let wt: tf.Tensor2D = tf.zeros([dim, 1])
    let bt: tf.Scalar = tf.scalar(0)
    let mw: tf.Tensor2D = tf.zerosLike(wt)
    let vw: tf.Tensor2D = tf.zerosLike(wt)
    let mb: tf.Scalar = tf.scalar(0)
    let vb: tf.Scalar = tf.scalar(0)
    const [beta1, beta2, epsilon] = [0.9, 0.999, 1e-8]
    for (let t = 1; t <= steps; t++) {
      const next = tf.tidy(() => {
        // Gradient of the weighted logistic loss: Xᵀ (w ⊙ (σ(Xw + b) − y)), plus the L2 term.
        const residual = tf.mul(ws, tf.sub(tf.sigmoid(tf.add(tf.matMul(xs, wt), bt)), ys))
        const gw = tf.add(tf.matMul(xs, residual, true, false), tf.mul(wt, l2)) as tf.Tensor2D
        const gb = tf.sum(residual) as tf.Scalar
        const mw2 = tf.add(tf.mul(mw, beta1), tf.mul(gw, 1 - beta1)) as tf.Tensor2D
        const vw2 = tf.add(tf.mul(vw, beta2), tf.mul(tf.square(gw), 1 - beta2)) as tf.Tensor2D
        const mb2 = tf.add(tf.mul(mb, beta1), tf.mul(gb, 1 - beta1)) as tf.Scalar
        const vb2 = tf.add(tf.mul(vb, beta2), tf.mul(tf.square(gb), 1 - beta2)) as tf.Scalar
        const step = (learningRate * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t)
        const w2 = tf.sub(wt, tf.mul(tf.div(mw2, tf.add(tf.sqrt(vw2), epsilon)), step)) as tf.Tensor2D
        const b2 = tf.sub(bt, tf.mul(tf.div(mb2, tf.add(tf.sqrt(vb2), epsilon)), step)) as tf.Scalar
        return [w2, b2, mw2, vw2, mb2, vb2] as const
      })
      for (const old of [wt, bt, mw, vw, mb, vb]) old.dispose()
      ;[wt, bt, mw, vw, mb, vb] = next
    }

    return [wt, bt] as const
  })
  const standardised = w.dataSync()
  const bias = b.dataSync()[0]
  w.dispose()
  b.dispose()
  // w·((f − mean)/std) + b = (w/std)·f + (b − Σ w·mean/std).
  const weights = Array.from(standardised, (value, i) => Math.fround(value / std[i]))
  let folded = bias
  for (let i = 0; i < dim; i++) folded -= (standardised[i] * mean[i]) / std[i]
  return {weights, bias: folded, positives, negatives}
}
