/**
 * The CNNs' training step and evaluation forward as one WebAssembly module of
 * our own (`kernels/cnn.c`, compiled by `npm run build:kernels` and shipped as
 * `kernels/cnn.wasm`): direct 3×3 convolutions with relaxed-SIMD fused
 * multiply-adds, batch norm, ReLU and pooling fused forward and backward, the
 * dense layers, and Adam, in one instance with its own memory. Nothing goes
 * through tfjs's kernels.
 *
 * One module serves every shape: an instance reads its network's (filters of
 * the two blocks, hidden units, classes) from the description when it is
 * made, and its parameter layout is checked against `parameterSpecs` then.
 * The module needs WebAssembly relaxed SIMD (on by default from Node 22);
 * `loadCnnKernel` returns undefined where it does not validate.
 */
import {readFileSync} from 'node:fs'

import {IMAGE_SIZE, PIXELS} from '../config.js'
import {type NetworkDescription, parameterSpecs} from '../architecture.js'
import type {AdamAttrs} from './adam.js'

export const KERNEL_FILE = new URL('../../kernels/cnn.wasm', import.meta.url)

interface Exports {
  memory: WebAssembly.Memory
  cnn_configure(c1: number, c2: number, hidden: number, classes: number): number
  cnn_parameter_count(): number
  cnn_parameter_size(i: number): number
  cnn_parameter_offset(i: number): number
  cnn_image_size(): number
  cnn_classes(): number
  cnn_logit_stride(): number
  cnn_hidden_units(): number
  cnn_params(): number
  cnn_grads(): number
  cnn_adam_m(): number
  cnn_adam_v(): number
  cnn_running(): number
  cnn_batch_stats(): number
  cnn_input(): number
  cnn_logits(): number
  cnn_dlogits(): number
  cnn_dropout_mask(): number
  cnn_reserve(batch: number): number
  cnn_forward(batch: number, epsilon: number): void
  cnn_infer(batch: number, epsilon: number): void
  cnn_backward(batch: number): void
  cnn_phase(phase: number, b0: number, b1: number, batch: number, epsilon: number): void
  cnn_sums(phase: number): number
  cnn_sums_pair(phase: number): number
  cnn_sums_width(phase: number): number
  cnn_half_grads(half: number): number
  cnn_combine(): void
  cnn_adam(
    step: number,
    beta1: number,
    beta2: number,
    oneMinusBeta1: number,
    oneMinusBeta2: number,
    epsilon: number,
    correction1: number,
    correction2: number,
  ): void
}

/** Whether the kernel computes this network: two 3×3 blocks pooling by 2 on 28×28 images, 8–64 filters (multiples of 8), at most 512 hidden units (multiples of 8). */
export function kernelComputes(net: NetworkDescription): boolean {
  const [height, width, channels] = net.input
  if (height !== IMAGE_SIZE || width !== IMAGE_SIZE || channels !== 1 || net.blocks.length !== 2) return false
  if (!net.blocks.every((b) => b.kernel === 3 && b.pool === 2 && b.filters % 8 === 0 && b.filters >= 8 && b.filters <= 64)) return false
  const units = net.hidden?.units ?? 0
  return units % 8 === 0 && units <= 512 && net.dense.units >= 2 && net.dense.units <= 10
}

export class CnnKernel {
  private readonly exports: Exports
  /** The trainable parameters in the kernel's order: the network's own, which is also what checkpoints and Adam's slots follow. */
  readonly parameters: readonly string[]
  /** The running statistics the evaluation forward reads, in the kernel's order. */
  readonly runningNames: readonly string[]
  /** Offsets of each parameter inside the packed arrays, in floats. */
  readonly offsets: Record<string, {offset: number; size: number}>
  readonly parameterCount: number
  /** Output classes, and the floats between two images' logits in the kernel's memory. */
  readonly classes: number
  private readonly logitStride: number
  /** Units of the hidden layer (0: none), and its dropout rate. */
  readonly hiddenUnits: number
  readonly dropout: number
  /** Channels of each block (the running statistics' widths). */
  private readonly filters: [number, number]

  constructor(
    instance: WebAssembly.Instance,
    readonly network: NetworkDescription,
  ) {
    this.exports = instance.exports as unknown as Exports
    const e = this.exports
    if (!kernelComputes(network)) throw new Error(`kernels/cnn.wasm does not compute the ${network.preset} network's shape`)
    const [first, second] = network.blocks
    this.filters = [first.filters, second.filters]
    this.hiddenUnits = network.hidden?.units ?? 0
    this.dropout = network.hidden?.dropout ?? 0
    this.classes = network.dense.units
    if (
      typeof e.cnn_configure !== 'function' ||
      !e.cnn_configure(first.filters, second.filters, this.hiddenUnits, this.classes) ||
      e.cnn_image_size() !== IMAGE_SIZE
    ) {
      throw new Error('kernels/cnn.wasm does not match this package (rebuild it with npm run build:kernels)')
    }

    this.logitStride = e.cnn_logit_stride()
    const specs = parameterSpecs(network)
    this.parameters = Object.entries(specs)
      .filter(([, spec]) => spec.trainable)
      .map(([name]) => name)
    this.runningNames = network.blocks.flatMap(({bn}) => [`${bn}.movingMean`, `${bn}.movingVariance`])
    const offsets: Record<string, {offset: number; size: number}> = {}
    let count = 0
    if (e.cnn_parameter_count() !== this.parameters.length)
      throw new Error(`kernels/cnn.wasm: the network has ${this.parameters.length} parameters, the kernel ${e.cnn_parameter_count()}`)
    for (const [i, name] of this.parameters.entries()) {
      offsets[name] = {offset: e.cnn_parameter_offset(i), size: e.cnn_parameter_size(i)}
      count = Math.max(count, offsets[name].offset + offsets[name].size)
      const size = specs[name].shape.reduce((a, b) => a * b, 1)
      if (size !== offsets[name].size)
        throw new Error(`kernels/cnn.wasm: parameter ${name} has ${offsets[name].size} values, the network ${specs[name].shape.join('×')}`)
    }

    this.offsets = offsets
    this.parameterCount = count
  }

  private f32(pointer: number, length: number): Float32Array {
    return new Float32Array(this.exports.memory.buffer, pointer, length)
  }

  /** The packed parameters (views: take them after the last `reserve`, which may move memory). */
  get params(): Float32Array {
    return this.f32(this.exports.cnn_params(), this.parameterCount)
  }

  get grads(): Float32Array {
    return this.f32(this.exports.cnn_grads(), this.parameterCount)
  }

  get adamM(): Float32Array {
    return this.f32(this.exports.cnn_adam_m(), this.parameterCount)
  }

  get adamV(): Float32Array {
    return this.f32(this.exports.cnn_adam_v(), this.parameterCount)
  }

  /** bn1 running mean, variance, bn2 running mean, variance. */
  get running(): Float32Array {
    return this.f32(this.exports.cnn_running(), 2 * (this.filters[0] + this.filters[1]))
  }

  /** The last training forward's batch means and biased variances, in the order of `running`. */
  get batchStatistics(): Float32Array {
    return this.f32(this.exports.cnn_batch_stats(), 2 * (this.filters[0] + this.filters[1]))
  }

  /** Where each block's statistics start in `running` and `batchStatistics`, and its channels. */
  get statisticBlocks(): Array<{bn: string; at: number; channels: number}> {
    return [
      {bn: this.network.blocks[0].bn, at: 0, channels: this.filters[0]},
      {bn: this.network.blocks[1].bn, at: 2 * this.filters[0], channels: this.filters[1]},
    ]
  }

  /** A parameter's values inside a packed array. */
  slice(packed: Float32Array, name: string): Float32Array {
    const {offset, size} = this.offsets[name]
    return packed.subarray(offset, offset + size)
  }

  /** Images the buffers hold (they only grow). */
  private capacity = 0

  reserve(batch: number): void {
    if (!this.exports.cnn_reserve(batch)) throw new Error(`the CNN kernel cannot hold a batch of ${batch} images (out of memory)`)
    this.capacity = Math.max(this.capacity, batch)
  }

  /** Images [b0, b1) of `images` (a whole batch of `batch`) into the kernel's input. */
  setInput(images: Float32Array, b0: number, b1: number, batch: number): void {
    this.reserve(batch)
    this.f32(this.exports.cnn_input() + 4 * b0 * PIXELS, (b1 - b0) * PIXELS).set(images.subarray(b0 * PIXELS, b1 * PIXELS))
  }

  /** Dropout multipliers [(b1 − b0) × units] of images [b0, b1) for the next training forward (after `setInput`). */
  setDropoutMask(mask: Float32Array, b0: number): void {
    if (this.hiddenUnits === 0) return
    this.f32(this.exports.cnn_dropout_mask() + 4 * b0 * this.hiddenUnits, mask.length).set(mask)
  }

  /** One phase of the training step over images [b0, b1) (kernels/cnn.c). */
  phase(phase: number, b0: number, b1: number, batch: number, epsilon: number): void {
    this.exports.cnn_phase(phase, b0, b1, batch, epsilon)
  }

  /** The per-image sums a phase leaves, as views over the whole capacity (one or two arrays). */
  sums(phase: number): Float32Array[] {
    const width = this.sumsWidth(phase)
    const pair = this.exports.cnn_sums_pair(phase)
    const first = this.f32(this.exports.cnn_sums(phase), this.capacity * width)
    return pair ? [first, this.f32(pair, this.capacity * width)] : [first]
  }

  sumsWidth(phase: number): number {
    return this.exports.cnn_sums_width(phase)
  }

  /** Logits of images [b0, b1) of the last forward, [n × K]. */
  logits(b0: number, b1: number): Float32Array {
    const k = this.classes
    const stride = this.logitStride
    const raw = this.f32(this.exports.cnn_logits() + 4 * b0 * stride, (b1 - b0) * stride)
    const out = new Float32Array((b1 - b0) * k)
    for (let b = 0; b < b1 - b0; b++) for (let j = 0; j < k; j++) out[b * k + j] = raw[b * stride + j]
    return out
  }

  /** dL/dlogits [n × K] of images from b0 on. */
  setDLogits(dLogits: Float32Array, b0: number): void {
    const k = this.classes
    const stride = this.logitStride
    const n = dLogits.length / k
    const raw = this.f32(this.exports.cnn_dlogits() + 4 * b0 * stride, n * stride)
    for (let b = 0; b < n; b++) for (let j = 0; j < k; j++) raw[b * stride + j] = dLogits[b * k + j]
  }

  /** The weight gradients summed over one half of the batch. */
  halfGrads(half: 0 | 1): Float32Array {
    return this.f32(this.exports.cnn_half_grads(half), this.parameterCount)
  }

  /** grads = first half + second half. */
  combine(): void {
    this.exports.cnn_combine()
  }

  private load(images: Float32Array, batch: number): void {
    this.setInput(images, 0, batch, batch)
  }

  /** Training-mode forward (batch statistics) of `batch` normalised images [B × 784]: logits [B × K]. `mask`: the dropout multipliers [B × units]. */
  forward(images: Float32Array, batch: number, epsilon: number, mask?: Float32Array): Float32Array {
    this.load(images, batch)
    this.setDropoutMask(mask ?? new Float32Array(batch * this.hiddenUnits).fill(1), 0)
    this.exports.cnn_forward(batch, epsilon)
    return this.logits(0, batch)
  }

  /** Gradients of every parameter (at `grads`) for dL/dlogits [B × K] of the last `forward`. */
  backward(dLogits: Float32Array, batch: number): void {
    this.setDLogits(dLogits, 0)
    this.exports.cnn_backward(batch)
  }

  /** As `backward`, with dL/dlogits already written (`setDLogits`). */
  backwardFromSet(batch: number): void {
    this.exports.cnn_backward(batch)
  }

  /** Adam on `params` from `grads`, moments at `adamM`/`adamV`, rounded as tfjs rounds its constants. */
  adam({learningRate, beta1, beta2, epsilon, correction1, correction2}: AdamAttrs): void {
    const f = Math.fround
    this.exports.cnn_adam(f(-learningRate), f(beta1), f(beta2), f(1 - beta1), f(1 - beta2), f(epsilon), f(correction1), f(correction2))
  }

  /** Evaluation-mode logits [B × K] (running statistics at `running`), in chunks of `chunk` images. */
  infer(images: Float32Array, count: number, epsilon: number, chunk = 64): Float32Array {
    const out = new Float32Array(count * this.classes)
    for (let start = 0; start < count; start += chunk) {
      const batch = Math.min(chunk, count - start)
      this.load(images.subarray(start * PIXELS), batch)
      this.exports.cnn_infer(batch, epsilon)
      out.set(this.logits(0, batch), start * this.classes)
    }

    return out
  }
}

let compiled: WebAssembly.Module | null | undefined

/**
 * A fresh kernel instance (its own memory), or undefined where this
 * WebAssembly lacks relaxed SIMD (Node 20 without a flag) or the file is
 * missing from the installation.
 */
export function loadCnnKernel(network: NetworkDescription): CnnKernel | undefined {
  const module = kernelModule()
  return module && kernelComputes(network) ? new CnnKernel(new WebAssembly.Instance(module, {}), network) : undefined
}

/** The compiled module (once per process), or undefined where it does not validate or is missing. */
export function kernelModule(): WebAssembly.Module | undefined {
  if (compiled === undefined) {
    let bytes: Uint8Array<ArrayBuffer>
    try {
      bytes = new Uint8Array(readFileSync(KERNEL_FILE))
    } catch {
      compiled = null
      return undefined
    }

    compiled = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null
  }

  return compiled ?? undefined
}

/**
 * Weighted cross-entropy of logits [B × K] (PyTorch's `CrossEntropyLoss(weight=w)`:
 * Σ w[yᵢ]·nllᵢ / Σ w[yᵢ]), the number of correct predictions, and dL/dlogits
 * = (softmax − onehot)·w[yᵢ]/Σw, in float64. For part of a batch, pass the
 * whole batch's Σ w[yᵢ]. With `logitOffsets` (one per class) the loss is that
 * of logits + offsets (the logit-adjusted loss: offsets = log prior); the
 * correct count is always that of the raw logits, what prediction uses.
 */
export function weightedSoftmaxLoss(
  logits: Float32Array,
  labels: ArrayLike<number>,
  classWeights: ArrayLike<number>,
  weightSum = batchWeight(labels, classWeights),
  logitOffsets?: ArrayLike<number>,
): {loss: number; correct: number; dLogits: Float32Array} {
  const batch = labels.length
  const classes = logits.length / batch
  const dLogits = new Float32Array(batch * classes)
  const z = new Float64Array(classes)
  let loss = 0
  let correct = 0
  for (let b = 0; b < batch; b++) {
    const row = b * classes
    const y = labels[b]
    let predicted = 0
    for (let k = 1; k < classes; k++) if (logits[row + k] > logits[row + predicted]) predicted = k
    if (predicted === y) correct += 1
    for (let k = 0; k < classes; k++) z[k] = logitOffsets ? logits[row + k] + logitOffsets[k] : logits[row + k]
    let best = 0
    for (let k = 1; k < classes; k++) if (z[k] > z[best]) best = k
    let total = 0
    for (let k = 0; k < classes; k++) total += Math.exp(z[k] - z[best])
    const logTotal = Math.log(total) + z[best]
    const share = classWeights[y] / weightSum
    loss += share * (logTotal - z[y])
    for (let k = 0; k < classes; k++) dLogits[row + k] = share * (Math.exp(z[k] - logTotal) - (k === y ? 1 : 0))
  }

  return {loss, correct, dLogits}
}

/** Σ w[yᵢ] over a batch. */
export function batchWeight(labels: ArrayLike<number>, classWeights: ArrayLike<number>): number {
  let sum = 0
  for (let b = 0; b < labels.length; b++) sum += classWeights[labels[b]]
  return sum
}
