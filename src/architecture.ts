/**
 * The network as plain data, with no tensors: imported by the engine (whose
 * fused kernel reads its shapes from it) and by the model (which builds the
 * tfjs network and its export from it), so neither imports the other for it.
 */
import {IMAGE_SIZE, MODEL_KINDS, PIXELS} from './config.js'
import type {ModelKind} from './config.js'

/**
 * The networks a run can train, by name (the run's `model` setting and the
 * checkpoint header's `model` field):
 * - `cnn`: the SPEC §2 network, conv 16 → conv 32 → dense K;
 * - `wide`: conv 32 → conv 64 → dense 128, ReLU, dropout 0.5 → dense K;
 * - `softmax`: dense K on the 784 pixels (multinomial logistic regression).
 */
export const NETWORK_PRESETS = MODEL_KINDS
export type NetworkPreset = ModelKind

/** One convolution block: Conv k×k, `filters`, same padding → BatchNorm → ReLU → MaxPool `pool`. */
export interface ConvBlock {
  readonly conv: string
  readonly bn: string
  readonly filters: number
  readonly kernel: number
  readonly pool: number
}

/** A dense layer with ReLU and (inverted, seeded) dropout between the features and the output layer. */
export interface HiddenLayer {
  readonly name: 'hidden'
  readonly units: number
  /** Share of the units dropped in training. */
  readonly dropout: number
}

/**
 * A network described once. Every other view is built from it or checked
 * against it: the parameter layout (`parameterSpecs`, hence checkpoints), the
 * tfjs forward pass (model/network.ts), the Layers export (model/export.ts),
 * the model summary, the engine's kernel (which reads its shapes from it when
 * it is instantiated) and its plain-tfjs reference.
 *
 *   input [B, 28, 28, 1]
 *   per block: Conv k×k, `filters`, same padding → BatchNorm → ReLU → MaxPool `pool`
 *   Flatten → [Dense `hidden.units` → ReLU → Dropout] → Dense `dense.units` → logits
 */
export interface NetworkDescription {
  readonly preset: NetworkPreset
  readonly input: readonly [number, number, 1]
  /** Empty for `softmax`. */
  readonly blocks: readonly ConvBlock[]
  readonly hidden?: HiddenLayer
  /** The output layer: one unit per class. */
  readonly dense: {readonly name: 'dense'; readonly units: number}
  /** PyTorch's BatchNorm defaults, so the recipe matches the original. */
  readonly batchNorm: {readonly epsilon: number; readonly momentum: number}
}

/** Output classes a network may have. */
export const MIN_CLASSES = 2
export const MAX_CLASSES = 10

const BATCH_NORM = {epsilon: 1e-5, momentum: 0.1} as const

const block = (index: number, filters: number): ConvBlock => ({conv: `conv${index}`, bn: `bn${index}`, filters, kernel: 3, pool: 2})

/** The description of a preset with `classCount` output classes. */
export function describeNetwork(preset: NetworkPreset, classCount: number): NetworkDescription {
  if (!Number.isInteger(classCount) || classCount < MIN_CLASSES || classCount > MAX_CLASSES) {
    throw new RangeError(`a network has ${MIN_CLASSES} to ${MAX_CLASSES} output classes, not ${classCount}`)
  }

  const base = {preset, input: [IMAGE_SIZE, IMAGE_SIZE, 1] as const, dense: {name: 'dense', units: classCount} as const, batchNorm: BATCH_NORM}
  switch (preset) {
    case 'cnn':
      return {...base, blocks: [block(1, 16), block(2, 32)]}
    case 'wide':
      return {...base, blocks: [block(1, 32), block(2, 64)], hidden: {name: 'hidden', units: 128, dropout: 0.5}}
    case 'softmax':
      return {...base, blocks: []}
  }
}

/** A preset's layers in a few words, from its description (help texts): e.g. `conv 16 → conv 32 → dense K`. */
export function presetLayers(preset: NetworkPreset): string {
  const net = describeNetwork(preset, MIN_CLASSES)
  const layers = net.blocks.map((b) => `conv ${b.filters}`)
  if (net.blocks.length === 0) layers.push(`${PIXELS} pixels`)
  if (net.hidden) layers.push(`dense ${net.hidden.units}, dropout ${net.hidden.dropout}`)
  return [...layers, 'dense K'].join(' → ')
}

/** The network a checkpoint (or a run's configuration) holds: its preset with one output per class. */
export function networkOf(header: {model: NetworkPreset; classes: readonly unknown[]}): NetworkDescription {
  return describeNetwork(header.model, header.classes.length)
}

export type CnnBlock = ConvBlock

export const BN_EPSILON = BATCH_NORM.epsilon
export const BN_MOMENTUM = BATCH_NORM.momentum

/** Height, width and channels after the convolution blocks: each pool divides height and width. */
export function cnnFeatureShape(net: NetworkDescription): [number, number, number] {
  const [height, width, channels] = net.input
  const shrink = net.blocks.reduce((factor, b) => factor * b.pool, 1)
  return [height / shrink, width / shrink, net.blocks.at(-1)?.filters ?? channels]
}

/** Values the output layer (or the hidden one) reads: the flattened features (the 784 pixels for softmax). */
export function featureCount(net: NetworkDescription): number {
  return net.blocks.length === 0 ? PIXELS : cnnFeatureShape(net).reduce((a, b) => a * b, 1)
}

export interface ParamSpec {
  shape: number[]
  /** 'uniform' draws from U(-1/sqrt(fanIn), 1/sqrt(fanIn)), PyTorch's default for conv and linear layers. */
  init: 'uniform' | 'zeros' | 'ones'
  fanIn: number
  trainable: boolean
}

/** Parameter layout of a network (TensorFlow layouts: HWIO filters, [in, out] dense kernels), in the network's order. */
export function parameterSpecs(net: NetworkDescription): Record<string, ParamSpec> {
  const specs: Record<string, ParamSpec> = {}
  let channels: number = net.input[2]
  for (const {conv, bn, filters, kernel} of net.blocks) {
    const fanIn = kernel * kernel * channels
    specs[`${conv}.kernel`] = {shape: [kernel, kernel, channels, filters], init: 'uniform', fanIn, trainable: true}
    specs[`${conv}.bias`] = {shape: [filters], init: 'uniform', fanIn, trainable: true}
    specs[`${bn}.gamma`] = {shape: [filters], init: 'ones', fanIn: 1, trainable: true}
    specs[`${bn}.beta`] = {shape: [filters], init: 'zeros', fanIn: 1, trainable: true}
    specs[`${bn}.movingMean`] = {shape: [filters], init: 'zeros', fanIn: 1, trainable: false}
    specs[`${bn}.movingVariance`] = {shape: [filters], init: 'ones', fanIn: 1, trainable: false}
    channels = filters
  }

  let inputs = featureCount(net)
  if (net.hidden) {
    const {name, units} = net.hidden
    specs[`${name}.kernel`] = {shape: [inputs, units], init: 'uniform', fanIn: inputs, trainable: true}
    specs[`${name}.bias`] = {shape: [units], init: 'uniform', fanIn: inputs, trainable: true}
    inputs = units
  }

  specs[`${net.dense.name}.kernel`] = {shape: [inputs, net.dense.units], init: 'uniform', fanIn: inputs, trainable: true}
  specs[`${net.dense.name}.bias`] = {shape: [net.dense.units], init: 'uniform', fanIn: inputs, trainable: true}
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
