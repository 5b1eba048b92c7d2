import {tf} from '../engine/tf.js'

import {PIXELS} from '../config.js'
import {BN_EPSILON, type CnnBlock, type NetworkDescription, blendRunningStatistic, parameterSpecs, unbiasFactor} from '../architecture.js'
import {Rng} from '../data/rng.js'
import {type BatchStatistics, batchNormReluPool} from '../engine/fused.js'
import {kernelEvalLogits} from '../engine/cnn-step.js'

import type {ModelKind} from '../config.js'

export {MODEL_KINDS, type ModelKind} from '../config.js'
// The description lives below the engine, which builds its kernels' layouts from it; the model's users find it here too.
export {
  BN_EPSILON,
  BN_MOMENTUM,
  NETWORK_PRESETS,
  type CnnBlock,
  type NetworkDescription,
  type NetworkPreset,
  type ParamSpec,
  blendRunningStatistic,
  cnnFeatureShape,
  describeNetwork,
  featureCount,
  networkOf,
  parameterSpecs,
  unbiasFactor,
} from '../architecture.js'

/**
 * A network as plain tensors: trainable `params` (what the optimiser updates)
 * and `buffers` (batch-norm running statistics, updated in training mode).
 * Names are stable: they are the keys in checkpoints and exports.
 */
export interface Network {
  /** The preset the description was made from. */
  readonly kind: ModelKind
  readonly description: NetworkDescription
  readonly params: Record<string, tf.Variable>
  readonly buffers: Record<string, tf.Variable>
  /**
   * Logits [B, K] for images [B, 28, 28, 1] already normalised. In training, a
   * network with a hidden layer multiplies its activations by `dropoutMask`
   * ([B × units], 0 or 1/(1 − rate): see engine/dropout.ts); without one, nothing is dropped.
   */
  logits(x: tf.Tensor4D, training: boolean, dropoutMask?: Float32Array): tf.Tensor2D
  /** The evaluation-mode activations the last (dense) layer reads, [B, F]: what a reject head is fitted on. */
  features(x: tf.Tensor4D): tf.Tensor2D
  dispose(): void
}

/** Initial values drawn from our seeded generator, so they are identical on every backend and machine. */
export function initialValues(net: NetworkDescription, seed: number): Record<string, Float32Array> {
  const rng = new Rng(seed)
  const values: Record<string, Float32Array> = {}
  for (const [name, spec] of Object.entries(parameterSpecs(net))) {
    const size = spec.shape.reduce((a, b) => a * b, 1)
    const data = new Float32Array(size)
    if (spec.init === 'ones') data.fill(1)
    if (spec.init === 'uniform') {
      const bound = 1 / Math.sqrt(spec.fanIn)
      for (let i = 0; i < size; i++) data[i] = rng.uniform(-bound, bound)
    }

    values[name] = data
  }

  return values
}

/** Build a network from named values (fresh from `initialValues` or read from a checkpoint). */
export function createNetwork(net: NetworkDescription, values: Record<string, Float32Array>): Network {
  const kind = net.preset
  const params: Record<string, tf.Variable> = {}
  const buffers: Record<string, tf.Variable> = {}
  for (const [name, spec] of Object.entries(parameterSpecs(net))) {
    const data = values[name]
    if (!data) throw new Error(`missing value for ${name}`)
    // tidy frees the initial tensor; the variable keeps its own reference to the data.
    const variable = tf.tidy(() => tf.variable(tf.tensor(data, spec.shape, 'float32'), spec.trainable, `${kind}.${name}.${nextId()}`))
    if (spec.trainable) params[name] = variable
    else buffers[name] = variable
  }

  const {logits, features} = net.blocks.length > 0 ? cnnLogits(net, params, buffers) : softmaxLogits(params)
  return {
    kind,
    description: net,
    params,
    buffers,
    logits,
    features,
    dispose() {
      for (const v of [...Object.values(params), ...Object.values(buffers)]) v.dispose()
    },
  }
}

let variableCounter = 0
function nextId(): number {
  variableCounter += 1
  return variableCounter
}

/** Evaluation-mode features [N × F] of normalised images [N × 784]. */
export async function networkFeatures(network: Network, x: Float32Array, batchSize = 256): Promise<{values: Float32Array; dim: number}> {
  const n = x.length / PIXELS
  const chunks: Float32Array[] = []
  let dim = 0
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize)
    const result = tf.tidy(() => network.features(tf.tensor4d(x.subarray(start * PIXELS, end * PIXELS), [end - start, 28, 28, 1])))
    dim = result.shape[1]
    chunks.push((await result.data()) as Float32Array)
    result.dispose()
  }

  const values = new Float32Array(n * dim)
  let offset = 0
  for (const chunk of chunks) {
    values.set(chunk, offset)
    offset += chunk.length
  }

  return {values, dim}
}

/** Named values of a network, for checkpoints. */
export async function readValues(network: Network): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {}
  for (const [name, v] of Object.entries({...network.params, ...network.buffers})) {
    out[name] = (await v.data()) as Float32Array
  }

  return out
}

/**
 * Fold one training batch's statistics into a batch norm's running ones, as PyTorch does: unbiased
 * variance, momentum 0.1. A few dozen numbers, so in plain arithmetic (rounded to float32 like the
 * tensors): a dozen tensor ops would cost more in engine bookkeeping than the arithmetic.
 */
export function updateRunningStatistics(buffers: Record<string, tf.Variable>, bn: CnnBlock['bn'], {mean, variance, count}: BatchStatistics): void {
  const movingMean = buffers[`${bn}.movingMean`]
  const movingVariance = buffers[`${bn}.movingVariance`]
  tf.tidy(() => {
    movingMean.assign(tf.tensor(blendRunningStatistic(movingMean.dataSync(), mean.dataSync(), 1), movingMean.shape))
    movingVariance.assign(tf.tensor(blendRunningStatistic(movingVariance.dataSync(), variance.dataSync(), unbiasFactor(count)), movingVariance.shape))
  })
}

function softmaxLogits(params: Record<string, tf.Variable>) {
  const features = (x: tf.Tensor4D): tf.Tensor2D => tf.reshape(x, [x.shape[0], PIXELS])
  return {
    features,
    logits: (x: tf.Tensor4D): tf.Tensor2D => tf.tidy(() => tf.add(tf.matMul(features(x), params['dense.kernel']), params['dense.bias'])),
  }
}

function cnnLogits(net: NetworkDescription, params: Record<string, tf.Variable>, buffers: Record<string, tf.Variable>) {
  const block = (x: tf.Tensor4D, {conv, bn, pool}: CnnBlock, training: boolean): tf.Tensor4D => {
    const z = tf.fused.conv2d({x, filter: params[`${conv}.kernel`] as tf.Tensor4D, strides: 1, pad: 'same', bias: params[`${conv}.bias`]})
    const gamma = params[`${bn}.gamma`] as tf.Tensor1D
    const beta = params[`${bn}.beta`] as tf.Tensor1D
    const movingMean = buffers[`${bn}.movingMean`]
    const movingVariance = buffers[`${bn}.movingVariance`]
    // The fused training kernel pools by 2, as every block of CNN does (a test checks it against the description).
    if (training) return batchNormReluPool(z, gamma, beta, BN_EPSILON, (stats) => updateRunningStatistics(buffers, bn, stats))

    // Running statistics make batch norm a per-channel affine map: with the ReLU, one depthwise 1×1 pass
    // (wasm's own batch-norm kernel is a plain loop, several times slower than XNNPACK's).
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(movingVariance, BN_EPSILON))) as tf.Tensor1D
    const offset = tf.sub(beta, tf.mul(movingMean, scale)) as tf.Tensor1D
    const filter = tf.reshape(scale, [1, 1, scale.shape[0], 1]) as tf.Tensor4D
    const activation = tf.fused.depthwiseConv2d({x: z, filter, strides: 1, pad: 'valid', bias: offset, activation: 'relu'})
    return tf.maxPool(activation, pool, pool, 'valid')
  }

  const features = (x: tf.Tensor4D, training: boolean, dropoutMask?: Float32Array): tf.Tensor2D => {
    const maps = net.blocks.reduce((h, spec) => block(h, spec, training), x)
    let flat: tf.Tensor2D = tf.reshape(maps, [x.shape[0], maps.shape[1] * maps.shape[2] * maps.shape[3]])
    if (net.hidden) {
      const {name, units} = net.hidden
      flat = tf.fused.matMul({a: flat, b: params[`${name}.kernel`] as tf.Tensor2D, bias: params[`${name}.bias`], activation: 'relu'}) as tf.Tensor2D
      if (training && dropoutMask) flat = tf.mul(flat, tf.tensor2d(dropoutMask, [x.shape[0], units]))
    }

    return flat
  }

  return {
    features: (x: tf.Tensor4D): tf.Tensor2D => tf.tidy(() => features(x, false)),
    logits: (x: tf.Tensor4D, training: boolean, dropoutMask?: Float32Array): tf.Tensor2D =>
      tf.tidy(() => {
        // On wasm, evaluation runs through our own kernel where it applies (src/engine/cnn-step.ts).
        const fast = training ? undefined : kernelEvalLogits(net, params, buffers, x)
        if (fast) return fast
        const flat = features(x, training, dropoutMask)
        return tf.fused.matMul({a: flat, b: params[`${net.dense.name}.kernel`] as tf.Tensor2D, bias: params[`${net.dense.name}.bias`]}) as tf.Tensor2D
      }),
  }
}
