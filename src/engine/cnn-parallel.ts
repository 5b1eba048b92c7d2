/**
 * The kernel's training step over two threads: data parallelism with one
 * WebAssembly instance per thread. The main thread takes the first half of
 * each batch, a worker thread the second; they meet only where the maths
 * needs the whole batch — batch-norm statistics forward and backward (a few
 * numbers per image) and the two halves' weight gradients, added once a step
 * in a fixed order — instead of at every operation as a thread pool does.
 *
 * Both threads run the kernel's phases in the same order as one instance
 * does alone (`cnn_forward`/`cnn_backward` are those phases over the whole
 * batch, with gradients also summed per half), so a seed trains to the same
 * bits on one thread and on two.
 */
import {Worker} from 'node:worker_threads'

import {PIXELS} from '../config.js'
import type {NetworkDescription} from '../architecture.js'
import type {CnnKernel} from './cnn-kernel.js'
import {dropoutMask} from './dropout.js'

/** Phases after which the per-image sums are exchanged (see kernels/cnn.c). */
export const EXCHANGES = [0, 1, 2, 3, 5, 6]
export const PHASES = 8
/** Largest per-image sum width: a block's channels (at most 64), two arrays (g and g·x̂) in the backward phases. */
const SUM_FLOATS = 2 * 64
/** Running statistics of two blocks of at most 64 channels (mean and variance each), and the most classes. */
const MAX_RUNNING = 4 * 64
const MAX_CLASSES = 10

/** Where each number of a step sits in `Shared.scalars`: class weights and logit offsets (up to ten classes each), then one number each. */
export const SCALARS = {weights: 0, offsets: 10, epsilon: 20, weightSum: 21, loss: 22, correct: 23, dropoutSeed: 24, step: 25, count: 32}

/**
 * Control words: each side's barrier generation, the step's batch size (0: stop; −n: evaluate the n images at
 * `images`), and 1 once the worker failed.
 */
const CONTROL = {main: 0, worker: 1, batch: 2, failed: 3, words: 4}

/**
 * Views of the shared memory both threads use. The per-image sums have two blocks, taken in turn by the exchanges of
 * a step: a side may write the next exchange's sums while the other still reads this one's, so each exchange needs
 * one meeting, not two.
 */
export class Shared {
  readonly control: Int32Array
  readonly images: Float32Array
  readonly labels: Int32Array
  /** The step's numbers (laid out by SCALARS); the worker's loss and correct count come back in them. */
  readonly scalars: Float64Array
  readonly params: Float32Array
  readonly sums: [Float32Array, Float32Array]
  readonly halfGrads: Float32Array
  /** Evaluation: the running statistics, and the worker's logits [n × K] back. */
  readonly running: Float32Array
  readonly logits: Float32Array

  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly maxBatch: number,
    readonly parameterCount: number,
  ) {
    const views = Shared.layout(maxBatch, parameterCount, buffer)
    this.control = views.control
    this.scalars = views.scalars
    this.images = views.images
    this.labels = views.labels
    this.params = views.params
    this.sums = [views.sums0, views.sums1]
    this.halfGrads = views.halfGrads
    this.running = views.running
    this.logits = views.logits
  }

  /** The bytes a buffer for these sizes takes. */
  static bytes(maxBatch: number, parameterCount: number): number {
    return Shared.layout(maxBatch, parameterCount).bytes
  }

  /** Each view's place, 8-byte aligned in order; the views themselves when a buffer is given. */
  private static layout(maxBatch: number, parameterCount: number, buffer?: SharedArrayBuffer) {
    let at = 0
    function take<T>(make: {new (buffer: SharedArrayBuffer, offset: number, length: number): T; BYTES_PER_ELEMENT: number}, length: number): T {
      const view = buffer === undefined ? (undefined as T) : new make(buffer, at, length)
      at += Math.ceil((make.BYTES_PER_ELEMENT * length) / 8) * 8
      return view
    }

    const views = {
      control: take(Int32Array, CONTROL.words),
      scalars: take(Float64Array, SCALARS.count),
      images: take(Float32Array, maxBatch * PIXELS),
      labels: take(Int32Array, maxBatch),
      params: take(Float32Array, parameterCount),
      sums0: take(Float32Array, maxBatch * SUM_FLOATS),
      sums1: take(Float32Array, maxBatch * SUM_FLOATS),
      halfGrads: take(Float32Array, parameterCount),
      running: take(Float32Array, MAX_RUNNING),
      logits: take(Float32Array, maxBatch * MAX_CLASSES),
    }
    return {...views, bytes: at}
  }
}

/** How long a side waiting at the barrier looks for the other before it sleeps. */
const SPIN_MS = 0.2

/** A two-party barrier: raise my generation, wait for the other's. */
export class Barrier {
  private generation = 0

  constructor(
    private readonly control: Int32Array,
    private readonly mine: number,
    private readonly theirs: number,
  ) {}

  /** Wait for the other side (at most `timeoutMs`); throws if the worker failed or did not come. */
  meet(timeoutMs = Number.POSITIVE_INFINITY): void {
    this.generation += 1
    Atomics.store(this.control, this.mine, this.generation)
    Atomics.notify(this.control, this.mine)
    const deadline = performance.now() + timeoutMs
    // The other side is usually a few microseconds away: look for it a while before sleeping, as a futex wake-up
    // costs tens of microseconds on a virtual machine.
    const spinUntil = performance.now() + SPIN_MS
    while (Atomics.load(this.control, this.theirs) < this.generation && performance.now() < spinUntil);
    for (let seen = Atomics.load(this.control, this.theirs); seen < this.generation; seen = Atomics.load(this.control, this.theirs)) {
      const left = deadline - performance.now()
      if (left <= 0 || Atomics.wait(this.control, this.theirs, seen, Math.min(left, 2 ** 31 - 1)) === 'timed-out') {
        if (performance.now() >= deadline) throw new Error(`the other training thread did not answer within ${timeoutMs} ms`)
      }
    }

    if (Atomics.load(this.control, CONTROL.failed)) throw new Error('the training worker thread failed')
  }

  /** Wake the other side for good, marking the work failed. */
  fail(): void {
    Atomics.store(this.control, CONTROL.failed, 1)
    Atomics.store(this.control, this.mine, 2 ** 31 - 1)
    Atomics.notify(this.control, this.mine)
  }
}

/** The images [b0, b1) of a batch each side takes: the kernel's halves. */
export function halves(batch: number): [[number, number], [number, number]] {
  const split = Math.ceil(batch / 2)
  return [
    [0, split],
    [split, batch],
  ]
}

/**
 * Run phases 0..7 of a step on one side, exchanging sums after the phases
 * that leave them; `lossOf` turns the side's logits into dL/dlogits before
 * the backward phases.
 */
export function runPhases(
  kernel: CnnKernel,
  shared: Shared,
  barrier: Barrier,
  range: [number, number],
  other: [number, number],
  batch: number,
  epsilon: number,
  lossOf: () => void,
): void {
  let exchange = 0
  for (let phase = 0; phase < PHASES; phase++) {
    if (phase === 5) lossOf()
    kernel.phase(phase, range[0], range[1], batch, epsilon)
    if (!EXCHANGES.includes(phase)) continue
    const width = kernel.sumsWidth(phase)
    const block = shared.sums[exchange++ % 2]
    // Mine into this exchange's block, meet, theirs into my instance. The other side writes its next sums into the
    // other block, and cannot come back to this one before I meet it at the next exchange, after reading.
    for (const [i, values] of kernel.sums(phase).entries())
      block.set(values.subarray(range[0] * width, range[1] * width), i * shared.maxBatch * width + range[0] * width)
    barrier.meet()
    for (const [i, values] of kernel.sums(phase).entries())
      values.set(block.subarray(i * shared.maxBatch * width + other[0] * width, i * shared.maxBatch * width + other[1] * width), other[0] * width)
  }
}

export {CONTROL}

/** What the loss of a step needs: class weights, the batch's Σ w[yᵢ], and the logit offsets (none: zeros). */
export interface StepLoss {
  classWeights: ArrayLike<number>
  weightSum: number
  logitOffsets?: ArrayLike<number>
}

/** What a step's dropout mask is drawn from (engine/dropout.ts): the run's seed and the optimiser's step count. */
export interface DropoutKey {
  seed: number
  step: number
}

/** Write the dropout mask of images [b0, b1) into a kernel with a hidden layer. */
export function setSideMask(kernel: CnnKernel, key: DropoutKey, [b0, b1]: [number, number]): void {
  if (kernel.hiddenUnits === 0) return
  kernel.setDropoutMask(dropoutMask(kernel.dropout, kernel.hiddenUnits, key.seed, key.step, b0, b1), b0)
}

/** What the worker thread is sent to begin: its kernel's module and network, and the memory both threads share. */
export interface WorkerStart {
  module: WebAssembly.Module
  buffer: SharedArrayBuffer
  maxBatch: number
  parameterCount: number
  network: NetworkDescription
}

/** A worker thread started ahead of its step (`prestartKernelWorker`), waiting for its `WorkerStart`. */
let spare: Worker | undefined

function spawnKernelWorker(): Worker {
  const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
  // The process's own flags, but not --input-type (for -e code only; a worker file refuses it).
  const execArgv = process.execArgv.filter((flag) => !flag.startsWith('--input-type'))
  const worker = new Worker(new URL(`./cnn-worker${extension}`, import.meta.url), {execArgv})
  worker.unref()
  // A failure reaches the main thread through the shared control words (see Barrier); this only keeps it from being uncaught.
  worker.on('error', () => undefined)
  return worker
}

/**
 * Start the second training thread now, so that its Node and modules load
 * while this thread reads the data (0.1 s the first step otherwise waits for):
 * the next `ParallelStep` takes it. A run on two threads calls this first. Idempotent.
 */
export function prestartKernelWorker(): void {
  spare ??= spawnKernelWorker()
}

/** Stop a thread `prestartKernelWorker` started and no step took (exiting while it still starts can abort V8). */
export async function stopSpareKernelWorker(): Promise<void> {
  const worker = spare
  spare = undefined
  await worker?.terminate()
}

/** The main thread's side: starts the worker (or takes the one started ahead) and drives each step. */
export class ParallelStep {
  private readonly worker: Worker
  private readonly shared: Shared
  private readonly barrier: Barrier

  constructor(
    readonly kernel: CnnKernel,
    module: WebAssembly.Module,
    maxBatch: number,
    network: NetworkDescription,
  ) {
    const buffer = new SharedArrayBuffer(Shared.bytes(maxBatch, kernel.parameterCount))
    this.shared = new Shared(buffer, maxBatch, kernel.parameterCount)
    this.barrier = new Barrier(this.shared.control, CONTROL.main, CONTROL.worker)
    this.worker = spare ?? spawnKernelWorker()
    spare = undefined
    this.worker.postMessage({module, buffer, maxBatch, parameterCount: kernel.parameterCount, network} satisfies WorkerStart)
    // The worker's first meeting says it is ready; a worker that cannot start leaves the step on one thread.
    try {
      this.barrier.meet(30_000)
    } catch (error) {
      void this.worker.terminate()
      throw error
    }
  }

  get maxBatch(): number {
    return this.shared.maxBatch
  }

  /**
   * Forward, loss and backward of one batch over both threads; the gradients
   * end at the kernel's `grads`. `lossOf(range)` computes the main side's
   * dL/dlogits; returns the worker's [loss, correct] for its half.
   */
  gradients(
    images: Float32Array,
    labels: ArrayLike<number>,
    loss: StepLoss,
    epsilon: number,
    dropout: DropoutKey,
    lossOf: (range: [number, number]) => void,
  ): [number, number] {
    const batch = labels.length
    const [mine, theirs] = halves(batch)
    const s = this.shared
    s.images.set(images.subarray(theirs[0] * PIXELS, theirs[1] * PIXELS), theirs[0] * PIXELS)
    s.labels.set(labels)
    const classes = this.kernel.classes
    for (let k = 0; k < classes; k++) {
      s.scalars[SCALARS.weights + k] = loss.classWeights[k]
      s.scalars[SCALARS.offsets + k] = loss.logitOffsets?.[k] ?? 0
    }

    s.scalars[SCALARS.epsilon] = epsilon
    s.scalars[SCALARS.weightSum] = loss.weightSum
    s.scalars[SCALARS.dropoutSeed] = dropout.seed
    s.scalars[SCALARS.step] = dropout.step
    s.params.set(this.kernel.params)
    Atomics.store(s.control, CONTROL.batch, batch)
    this.kernel.setInput(images, mine[0], mine[1], batch)
    setSideMask(this.kernel, dropout, mine)
    this.barrier.meet()
    runPhases(this.kernel, s, this.barrier, mine, theirs, batch, epsilon, () => lossOf(mine))
    this.barrier.meet()
    this.kernel.halfGrads(1).set(s.halfGrads)
    this.kernel.combine()
    return [s.scalars[SCALARS.loss], s.scalars[SCALARS.correct]]
  }

  /**
   * Evaluation-mode logits [count × K] of `images` (the kernel's `params` and `running`) over both threads: in rounds
   * of up to two batches, the main thread takes the first half of each, the worker the rest. Each image's logits are
   * those one instance alone gives it.
   */
  infer(images: Float32Array, count: number, epsilon: number): Float32Array {
    const {kernel, shared: s} = this
    const k = kernel.classes
    const out = new Float32Array(count * k)
    s.params.set(kernel.params)
    s.running.set(kernel.running)
    s.scalars[SCALARS.epsilon] = epsilon
    for (let start = 0; start < count; start += 2 * s.maxBatch) {
      const n = Math.min(2 * s.maxBatch, count - start)
      const [mine, theirs] = halves(n)
      s.images.set(images.subarray((start + theirs[0]) * PIXELS, (start + theirs[1]) * PIXELS))
      Atomics.store(s.control, CONTROL.batch, -(theirs[1] - theirs[0]))
      this.barrier.meet()
      out.set(kernel.infer(images.subarray(start * PIXELS, (start + mine[1]) * PIXELS), mine[1], epsilon), start * k)
      this.barrier.meet()
      out.set(s.logits.subarray(0, (theirs[1] - theirs[0]) * k), (start + theirs[0]) * k)
    }

    return out
  }

  /** Stop the worker (it ends its loop; the thread exits). */
  dispose(): void {
    Atomics.store(this.shared.control, CONTROL.batch, 0)
    this.barrier.meet(30_000)
  }
}
