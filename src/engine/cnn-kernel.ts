/**
 * The CNN's training step and evaluation forward as one WebAssembly module of
 * our own (`kernels/cnn.c`, compiled by `npm run build:kernels` and shipped as
 * `kernels/cnn.wasm`): direct 3×3 convolutions with relaxed-SIMD fused
 * multiply-adds, batch norm, ReLU and pooling fused forward and backward, and
 * Adam, in one instance with its own memory. Nothing goes through tfjs's
 * kernels or its XNNPACK.
 *
 * The module needs WebAssembly relaxed SIMD (on by default from Node 22);
 * `loadCnnKernel` returns undefined where it does not validate, and the
 * callers keep tfjs's engine then. Its parameter layout is checked against the
 * network description (`parameterSpecs`) when it loads.
 */
import {readFileSync} from 'node:fs'

import {CLASSES, IMAGE_SIZE, PIXELS} from '../config.js'
import type {AdamAttrs} from './adam.js'

/** The trainable parameters in the kernel's order: the network's own, which is also what checkpoints and Adam's slots follow. */
export const KERNEL_PARAMETERS = [
  'conv1.kernel',
  'conv1.bias',
  'bn1.gamma',
  'bn1.beta',
  'conv2.kernel',
  'conv2.bias',
  'bn2.gamma',
  'bn2.beta',
  'dense.kernel',
  'dense.bias',
] as const

export type KernelParameter = (typeof KERNEL_PARAMETERS)[number]

/** The running statistics the evaluation forward reads, in the kernel's order. */
export const KERNEL_RUNNING = ['bn1.movingMean', 'bn1.movingVariance', 'bn2.movingMean', 'bn2.movingVariance'] as const

/** Channels of each running statistic, in the order of KERNEL_RUNNING. */
const RUNNING_WIDTHS = [16, 16, 32, 32]

export const KERNEL_FILE = new URL('../../kernels/cnn.wasm', import.meta.url)

interface Exports {
  memory: WebAssembly.Memory
  cnn_parameter_count(): number
  cnn_parameter_size(i: number): number
  cnn_parameter_offset(i: number): number
  cnn_image_size(): number
  cnn_classes(): number
  cnn_params(): number
  cnn_grads(): number
  cnn_adam_m(): number
  cnn_adam_v(): number
  cnn_running(): number
  cnn_batch_stats(): number
  cnn_input(): number
  cnn_logits(): number
  cnn_dlogits(): number
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
  cnn_adam(step: number, beta1: number, beta2: number, oneMinusBeta1: number, oneMinusBeta2: number, epsilon: number, correction1: number, correction2: number): void
}

/** Logits stride in the kernel's memory: rows of four floats, three used. */
const LOGIT_STRIDE = 4

export class CnnKernel {
  private readonly exports: Exports
  /** Offsets of each parameter inside the packed arrays, in floats. */
  readonly offsets: Record<KernelParameter, {offset: number; size: number}>
  readonly parameterCount: number

  constructor(instance: WebAssembly.Instance) {
    this.exports = instance.exports as unknown as Exports
    const e = this.exports
    if (e.cnn_parameter_count() !== KERNEL_PARAMETERS.length || e.cnn_image_size() !== IMAGE_SIZE || e.cnn_classes() !== CLASSES.length) {
      throw new Error('kernels/cnn.wasm does not match this package (rebuild it with npm run build:kernels)')
    }

    const offsets = {} as Record<KernelParameter, {offset: number; size: number}>
    let count = 0
    for (const [i, name] of KERNEL_PARAMETERS.entries()) {
      offsets[name] = {offset: e.cnn_parameter_offset(i), size: e.cnn_parameter_size(i)}
      count = Math.max(count, offsets[name].offset + offsets[name].size)
    }

    this.offsets = offsets
    this.parameterCount = count
  }

  /**
   * Check the kernel's parameters against the network description
   * (`parameterSpecs('cnn')`): the same trainable parameters in the same order
   * with the same sizes, and running statistics of the kernel's widths.
   */
  checkLayout(specs: Record<string, {shape: number[]; trainable: boolean}>): void {
    const trainable = Object.entries(specs).filter(([, spec]) => spec.trainable).map(([name]) => name)
    if (trainable.join() !== KERNEL_PARAMETERS.join()) throw new Error(`kernels/cnn.wasm: the network's parameters are ${trainable.join(', ')}, the kernel's ${KERNEL_PARAMETERS.join(', ')}`)
    for (const name of KERNEL_PARAMETERS) {
      const size = specs[name].shape.reduce((a, b) => a * b, 1)
      if (size !== this.offsets[name].size) throw new Error(`kernels/cnn.wasm: parameter ${name} has ${this.offsets[name].size} values, the network ${specs[name].shape.join('×')}`)
    }

    for (const [i, name] of KERNEL_RUNNING.entries()) {
      if (specs[name]?.shape[0] !== RUNNING_WIDTHS[i]) throw new Error(`kernels/cnn.wasm: running statistic ${name} does not match the network`)
    }
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

  /** bn1 running mean, variance, bn2 running mean, variance: 16 + 16 + 32 + 32. */
  get running(): Float32Array {
    return this.f32(this.exports.cnn_running(), 96)
  }

  /** The last training forward's batch means and biased variances, in the order of `running`. */
  get batchStatistics(): Float32Array {
    return this.f32(this.exports.cnn_batch_stats(), 96)
  }

  /** A parameter's values inside a packed array. */
  slice(packed: Float32Array, name: KernelParameter): Float32Array {
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

  /** Logits of images [b0, b1) of the last forward, [n × 3]. */
  logits(b0: number, b1: number): Float32Array {
    const raw = this.f32(this.exports.cnn_logits() + 4 * b0 * LOGIT_STRIDE, (b1 - b0) * LOGIT_STRIDE)
    const out = new Float32Array((b1 - b0) * CLASSES.length)
    for (let b = 0; b < b1 - b0; b++) for (let k = 0; k < CLASSES.length; k++) out[b * CLASSES.length + k] = raw[b * LOGIT_STRIDE + k]
    return out
  }

  /** dL/dlogits [n × 3] of images from b0 on. */
  setDLogits(dLogits: Float32Array, b0: number): void {
    const n = dLogits.length / CLASSES.length
    const raw = this.f32(this.exports.cnn_dlogits() + 4 * b0 * LOGIT_STRIDE, n * LOGIT_STRIDE)
    for (let b = 0; b < n; b++) for (let k = 0; k < CLASSES.length; k++) raw[b * LOGIT_STRIDE + k] = dLogits[b * CLASSES.length + k]
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

  /** Training-mode forward (batch statistics) of `batch` normalised images [B × 784]: logits [B × 3]. */
  forward(images: Float32Array, batch: number, epsilon: number): Float32Array {
    this.load(images, batch)
    this.exports.cnn_forward(batch, epsilon)
    return this.logits(0, batch)
  }

  /** Gradients of every parameter (at `grads`) for dL/dlogits [B × 3] of the last `forward`. */
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

  /** Evaluation-mode logits [B × 3] (running statistics at `running`), in chunks of `chunk` images. */
  infer(images: Float32Array, count: number, epsilon: number, chunk = 64): Float32Array {
    const out = new Float32Array(count * CLASSES.length)
    for (let start = 0; start < count; start += chunk) {
      const batch = Math.min(chunk, count - start)
      this.load(images.subarray(start * PIXELS), batch)
      this.exports.cnn_infer(batch, epsilon)
      out.set(this.logits(0, batch), start * CLASSES.length)
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
export function loadCnnKernel(): CnnKernel | undefined {
  const module = kernelModule()
  return module ? new CnnKernel(new WebAssembly.Instance(module, {})) : undefined
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
 * Weighted cross-entropy of logits [B × 3] (PyTorch's `CrossEntropyLoss(weight=w)`:
 * Σ w[yᵢ]·nllᵢ / Σ w[yᵢ]), the number of correct predictions, and dL/dlogits
 * = (softmax − onehot)·w[yᵢ]/Σw, in float64. For part of a batch, pass the
 * whole batch's Σ w[yᵢ].
 */
export function weightedSoftmaxLoss(
  logits: Float32Array,
  labels: ArrayLike<number>,
  classWeights: ArrayLike<number>,
  weightSum = batchWeight(labels, classWeights),
): {loss: number; correct: number; dLogits: Float32Array} {
  const classes = CLASSES.length
  const batch = labels.length
  const dLogits = new Float32Array(batch * classes)
  let loss = 0
  let correct = 0
  for (let b = 0; b < batch; b++) {
    const row = b * classes
    const y = labels[b]
    let best = 0
    for (let k = 1; k < classes; k++) if (logits[row + k] > logits[row + best]) best = k
    if (best === y) correct += 1
    let total = 0
    for (let k = 0; k < classes; k++) total += Math.exp(logits[row + k] - logits[row + best])
    const logTotal = Math.log(total) + logits[row + best]
    const share = classWeights[y] / weightSum
    loss += share * (logTotal - logits[row + y])
    for (let k = 0; k < classes; k++) dLogits[row + k] = share * (Math.exp(logits[row + k] - logTotal) - (k === y ? 1 : 0))
  }

  return {loss, correct, dLogits}
}

/** Σ w[yᵢ] over a batch. */
export function batchWeight(labels: ArrayLike<number>, classWeights: ArrayLike<number>): number {
  let sum = 0
  for (let b = 0; b < labels.length; b++) sum += classWeights[labels[b]]
  return sum
}
