/**
 * The network as plain data, with no tensors: imported by the engine (whose
 * fused kernel checks its layout against it) and by the model (which builds
 * the tfjs network and its export from it), so neither imports the other for it.
 */
import {CLASSES, IMAGE_SIZE, PIXELS} from './config.js'
import type {ModelKind} from './config.js'

/**
 * The SPEC §2 network, described once. Every other view is built from it or
 * checked against it: the parameter layout (`parameterSpecs`, hence
 * checkpoints), the tfjs forward pass (model/network.ts), the Layers export
 * (model/export.ts), and, in tests, the engine's fused training step and its
 * plain-tfjs reference.
 *
 *   input [B, 28, 28, 1]
 *   per block: Conv k×k, `filters`, same padding → BatchNorm → ReLU → MaxPool `pool`
 *   Flatten → Dense `units` → logits
 */
export const CNN = {
  input: [IMAGE_SIZE, IMAGE_SIZE, 1],
  blocks: [
    {conv: 'conv1', bn: 'bn1', filters: 16, kernel: 3, pool: 2},
    {conv: 'conv2', bn: 'bn2', filters: 32, kernel: 3, pool: 2},
  ],
  dense: {name: 'dense', units: CLASSES.length},
  /** PyTorch's BatchNorm defaults, so the recipe matches the original. */
  batchNorm: {epsilon: 1e-5, momentum: 0.1},
} as const

export type CnnBlock = (typeof CNN.blocks)[number]

export const BN_EPSILON = CNN.batchNorm.epsilon
export const BN_MOMENTUM = CNN.batchNorm.momentum

/** Height, width and channels after the convolution blocks: each pool divides height and width. */
export function cnnFeatureShape(): [number, number, number] {
  const [height, width] = CNN.input
  const shrink = CNN.blocks.reduce((factor, block) => factor * block.pool, 1)
  return [height / shrink, width / shrink, CNN.blocks.at(-1)!.filters]
}

export interface ParamSpec {
  shape: number[]
  /** 'uniform' draws from U(-1/sqrt(fanIn), 1/sqrt(fanIn)), PyTorch's default for conv and linear layers. */
  init: 'uniform' | 'zeros' | 'ones'
  fanIn: number
  trainable: boolean
}

/** Parameter layout of each model kind with `classes` outputs (TensorFlow layouts: HWIO filters, [in, out] dense kernels). */
export function parameterSpecs(kind: ModelKind, classes: number = CLASSES.length): Record<string, ParamSpec> {
  if (kind === 'softmax') {
    return {
      'dense.kernel': {shape: [PIXELS, classes], init: 'uniform', fanIn: PIXELS, trainable: true},
      'dense.bias': {shape: [classes], init: 'uniform', fanIn: PIXELS, trainable: true},
    }
  }

  const specs: Record<string, ParamSpec> = {}
  let channels: number = CNN.input[2]
  for (const {conv, bn, filters, kernel} of CNN.blocks) {
    const fanIn = kernel * kernel * channels
    specs[`${conv}.kernel`] = {shape: [kernel, kernel, channels, filters], init: 'uniform', fanIn, trainable: true}
    specs[`${conv}.bias`] = {shape: [filters], init: 'uniform', fanIn, trainable: true}
    specs[`${bn}.gamma`] = {shape: [filters], init: 'ones', fanIn: 1, trainable: true}
    specs[`${bn}.beta`] = {shape: [filters], init: 'zeros', fanIn: 1, trainable: true}
    specs[`${bn}.movingMean`] = {shape: [filters], init: 'zeros', fanIn: 1, trainable: false}
    specs[`${bn}.movingVariance`] = {shape: [filters], init: 'ones', fanIn: 1, trainable: false}
    channels = filters
  }

  const flat = cnnFeatureShape().reduce((a, b) => a * b, 1)
  specs[`${CNN.dense.name}.kernel`] = {shape: [flat, classes], init: 'uniform', fanIn: flat, trainable: true}
  specs[`${CNN.dense.name}.bias`] = {shape: [classes], init: 'uniform', fanIn: flat, trainable: true}
  return specs
}

/** running·(1 − momentum) + batch·momentum·scale, in float64 rounded to float32: the one rule for running statistics. */
export function blendRunningStatistic(running: ArrayLike<number>, batch: ArrayLike<number>, scale: number): Float32Array {
  return Float32Array.from(running, (v, i) => (1 - BN_MOMENTUM) * v + BN_MOMENTUM * scale * batch[i])
}

/** PyTorch keeps the unbiased variance: the batch's biased one times n/(n − 1). */
export function unbiasFactor(count: number): number {
  return count / Math.max(count - 1, 1)
}
