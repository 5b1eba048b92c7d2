/**
 * The training step through our own kernel (`./cnn-kernel.ts`) for a network
 * whose state lives in tfjs variables on the wasm backend.
 *
 * The variables stay the one copy of the state that checkpoints, validation,
 * resuming and the learning-rate schedule see: each step copies parameters and
 * Adam's moments into the kernel's memory and the results back, straight
 * between the two WebAssembly memories (~0.1 MB each way, no engine op), in
 * place where a variable's memory is its own.
 */
import {tf} from './tf.js'
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm'

import {adamState, advanceAdam} from './adam.js'
import {currentBackend} from './selected.js'
import {type CnnKernel, batchWeight, kernelComputes, kernelModule, loadCnnKernel, weightedSoftmaxLoss} from './cnn-kernel.js'
import {type DropoutKey, ParallelStep, halves, setSideMask} from './cnn-parallel.js'
import {BN_EPSILON, type NetworkDescription, blendRunningStatistic, unbiasFactor} from '../architecture.js'

/** A network's state as the engine sees it: trainable parameters and batch-norm buffers by name (model/network.ts's `Network` is one). */
export interface NetworkVariables {
  readonly params: Record<string, tf.Variable>
  readonly buffers: Record<string, tf.Variable>
}

/** One kernel instance per network shape in this process (each has its own memory). */
const kernels = new Map<string, CnnKernel | null>()

function shapeKey(net: NetworkDescription): string {
  return JSON.stringify([net.blocks.map((b) => b.filters), net.hidden?.units ?? 0, net.hidden?.dropout ?? 0, net.dense.units])
}

/** The kernel for this network, when the backend is wasm, the kernel computes the network's shape and this WebAssembly runs it. */
export function stepKernel(net: NetworkDescription): CnnKernel | undefined {
  if (tf.getBackend() !== 'wasm') return undefined
  const key = shapeKey(net)
  if (!kernels.has(key)) kernels.set(key, loadCnnKernel(net) ?? null)
  return kernels.get(key) ?? undefined
}

let parallel: ParallelStep | null | undefined

/** Images from which an evaluation forward runs on both threads (when training has two). */
const PARALLEL_EVALUATION = 64

/** Threads the last kernel step ran on. */
let lastThreads = 1

export function trainingThreads(): number {
  return lastThreads
}

/**
 * The second thread, when the backend was given two or more (`--num-workers`,
 * capped at the machine's cores) and the batch can be split; null once it
 * failed to start (the step then stays on one thread).
 */
function parallelStep(cnn: CnnKernel, batch: number): ParallelStep | undefined {
  if (batch < 2 || (currentBackend()?.threads ?? 1) < 2 || parallel === null) return undefined
  if (parallel && parallel.maxBatch >= batch && parallel.kernel === cnn) return parallel
  parallel?.dispose()
  try {
    parallel = new ParallelStep(cnn, kernelModule()!, Math.max(batch, 64), cnn.network)
  } catch (error) {
    parallel = null
    process.emitWarning(`training continues on one thread: the second one did not start (${(error as Error).message})`)
    return undefined
  }

  return parallel
}

/** Whether this network trains through the kernel on wasm (this WebAssembly runs it and it computes the network's shape). */
export function kernelWillTrain(net: NetworkDescription): boolean {
  return kernelComputes(net) && kernelModule() !== undefined
}

function wasmBackend(): BackendWasm {
  return tf.backend() as unknown as BackendWasm
}

/** A tensor's values: its own memory on the wasm heap. */
function view(t: tf.Tensor): Float32Array {
  return wasmBackend().typedArrayFromHeap(t) as Float32Array
}

/** Overwrite a variable: in place when no other tensor shares its memory, else by assignment. */
function write(variable: tf.Variable, values: Float32Array): void {
  const backend = wasmBackend()
  if (backend.refCount(variable.dataId) === 1) view(variable).set(values)
  else variable.assign(tf.tensor(values, variable.shape, 'float32'))
}

/** What a kernel step needs beyond the batch: the loss's logit offsets (none: zeros) and the dropout mask's key. */
export interface KernelStepOptions {
  logitOffsets?: ArrayLike<number>
  dropout: DropoutKey
}

/**
 * One optimisation step of the CNN with Adam: forward with batch statistics,
 * class-weighted cross-entropy (of logits + offsets), backward, Adam, running
 * statistics. Returns the batch loss and the number of correct predictions.
 */
export function kernelTrainStep(
  cnn: CnnKernel,
  network: NetworkVariables,
  optimizer: tf.AdamOptimizer,
  x: tf.Tensor4D,
  labels: tf.Tensor1D,
  classWeights: tf.Tensor1D,
  options: KernelStepOptions,
): {loss: number; correct: number} {
  const batch = x.shape[0]
  const names = cnn.parameters
  const variables = names.map((name) => network.params[name])
  const {settings, slots} = adamState(optimizer, variables)
  const params = cnn.params
  const m = cnn.adamM
  const v = cnn.adamV
  for (const [i, name] of names.entries()) {
    cnn.slice(params, name).set(view(variables[i]))
    cnn.slice(m, name).set(view(slots[i].m))
    cnn.slice(v, name).set(view(slots[i].v))
  }

  // The loss of each half, added: the same bits whether one thread or two computed them.
  const images = view(x)
  const y = labels.dataSync()
  const w = classWeights.dataSync()
  const weightSum = batchWeight(y, w)
  const sides = halves(batch)
  let loss = 0
  let correct = 0
  const lossOf = ([b0, b1]: [number, number]) => {
    const part = weightedSoftmaxLoss(cnn.logits(b0, b1), y.subarray(b0, b1), w, weightSum, options.logitOffsets)
    cnn.setDLogits(part.dLogits, b0)
    loss += part.loss
    correct += part.correct
  }

  const twoThreads = parallelStep(cnn, batch)
  lastThreads = twoThreads ? 2 : 1
  if (twoThreads) {
    const [theirLoss, theirCorrect] = twoThreads.gradients(
      images,
      y,
      {classWeights: w, weightSum, logitOffsets: options.logitOffsets},
      BN_EPSILON,
      options.dropout,
      lossOf,
    )
    loss += theirLoss
    correct += theirCorrect
  } else {
    cnn.setInput(images, 0, batch, batch)
    for (const side of sides) setSideMask(cnn, options.dropout, side)
    for (let phase = 0; phase < 5; phase++) cnn.phase(phase, 0, batch, batch, BN_EPSILON)
    for (const side of sides) lossOf(side)
    cnn.backwardFromSet(batch)
  }

  cnn.adam(settings)

  // Views again: the forward pass may have grown the kernel's memory.
  for (const [i, name] of names.entries()) {
    write(variables[i], cnn.slice(cnn.params, name))
    write(slots[i].m, cnn.slice(cnn.adamM, name))
    write(slots[i].v, cnn.slice(cnn.adamV, name))
  }

  const stats = cnn.batchStatistics
  const [h1, w1] = x.shape.slice(1)
  for (const [i, {bn, at, channels}] of cnn.statisticBlocks.entries()) {
    const count = batch * Math.floor(h1 / 2 ** i) * Math.floor(w1 / 2 ** i)
    const mean = network.buffers[`${bn}.movingMean`]
    const variance = network.buffers[`${bn}.movingVariance`]
    write(mean, blendRunningStatistic(view(mean), stats.subarray(at, at + channels), 1))
    write(variance, blendRunningStatistic(view(variance), stats.subarray(at + channels, at + 2 * channels), unbiasFactor(count)))
  }

  advanceAdam(optimizer, write)
  return {loss, correct}
}

/**
 * Evaluation-mode logits [B, K] of the CNN (running statistics) through the
 * kernel, or undefined where it does not apply (another backend, a shape it
 * does not compute, another image size).
 */
export function kernelEvalLogits(
  net: NetworkDescription,
  params: Record<string, tf.Tensor>,
  buffers: Record<string, tf.Tensor>,
  x: tf.Tensor4D,
): tf.Tensor2D | undefined {
  const [batch, height, width, channels] = x.shape
  if (height !== 28 || width !== 28 || channels !== 1) return undefined
  const cnn = stepKernel(net)
  if (!cnn) return undefined
  const packed = cnn.params
  for (const name of cnn.parameters) cnn.slice(packed, name).set(view(params[name]))
  const running = cnn.running
  let at = 0
  for (const name of cnn.runningNames) {
    const values = view(buffers[name])
    running.set(values, at)
    at += values.length
  }

  // A split's worth of images is shared with the second training thread, where there is one; a few stay on this one.
  const pair = batch >= PARALLEL_EVALUATION ? parallelStep(cnn, 2) : undefined
  return tf.tensor2d((pair ?? cnn).infer(view(x), batch, BN_EPSILON), [batch, cnn.classes])
}
