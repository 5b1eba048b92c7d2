/**
 * Uploaded images are decoded in worker threads, never on the event loop: a
 * 6000×6000 JPEG takes seconds to decode, and health checks, history pages
 * and event streams must not wait for it. Before any decoding the header is
 * read here and its pixel count checked against the server's budget; and the
 * pixels waiting for a worker are bounded too, so a burst of large uploads is
 * told to come back later (503 + Retry-After) instead of piling up memory.
 *
 * Each decode is bounded in time and memory as well, whatever the file: a
 * worker has a heap limit (`resourceLimits`), and one that is still decoding
 * after the timeout is stopped and replaced. `predict` decodes through the
 * same pool, so the CLI has the same bounds.
 */
import {availableParallelism} from 'node:os'
import type {Worker} from 'node:worker_threads'

import {UserError} from '../errors.js'
import {type ImageInfo, type MnistInput, inspectImage, inspectPrefix} from '../images/preprocess.js'
import {startModuleWorker} from './worker.js'

export interface DecodeJob {
  id: number
  bytes: Uint8Array
  name: string
  preprocess: boolean
}

export type DecodeResult = ({id: number} & MnistInput) | {id: number; error: string; userError: boolean}

/** What a worker sends once its modules are loaded: the decode timeout counts from then, not from its start. */
export const WORKER_READY = 'ready'

export const DECODE_DEFAULTS = {
  /** Longest a decode may run; a 16-megapixel JPEG takes a second or two on a busy machine. */
  timeoutMs: 10_000,
  /** Heap of one decode worker: pixel buffers live outside it, parsed structures (tags, tables) inside. */
  heapMb: 512,
  /**
   * Young generation of a decode worker. Left unset, Node sizes it like the
   * old generation; one scavenge can then move more into the old generation
   * than the 16 MB Node lets a worker's heap go past its limit while it is
   * being stopped, and V8 aborts the whole process ("FATAL ERROR: Reached
   * heap limit") instead of the worker. Kept small, each step past the limit
   * is small.
   */
  youngMb: 4,
} as const

/** The image is over the server's pixel budget (413). */
export class TooManyPixelsError extends UserError {}

/** Every worker is busy and the queue is full (503, retry later). */
export class DecoderBusyError extends UserError {
  constructor(readonly retryAfterSeconds: number) {
    super(`the server is busy decoding other images; try again in ${retryAfterSeconds} s`)
  }
}

export interface DecodePoolOptions {
  /** Worker threads (default: the machine's cores, at most 4). */
  workers?: number
  /** Largest image accepted, in decoded pixels (all frames). */
  maxPixels: number
  /** Pixels of the images admitted (decoding or waiting) at any time; a new image beyond it is refused with 503. */
  maxPendingPixels?: number
  /** Images admitted at any time, whatever their size. */
  maxPendingJobs?: number
  /** A decode still running after this long is stopped (its worker replaced) and refused. */
  timeoutMs?: number
  /** Heap limit of each worker, in MB; a decode beyond it is refused as too large. */
  heapMb?: number
}

interface Pending {
  job: DecodeJob
  pixels: number
  resolve(input: MnistInput): void
  reject(error: unknown): void
}

interface Slot {
  worker: Worker
  job: Pending | undefined
  ready: boolean
  timer?: NodeJS.Timeout
}

export class DecodePool {
  readonly maxPixels: number
  private readonly maxPendingPixels: number
  private readonly maxPendingJobs: number
  private readonly size: number
  private readonly timeoutMs: number
  private readonly heapMb: number
  private readonly slots: Slot[] = []
  private readonly queue: Pending[] = []
  private pendingPixels = 0
  private pendingJobs = 0
  private nextId = 1
  private closed = false

  constructor(options: DecodePoolOptions) {
    this.size = Math.max(1, options.workers ?? Math.min(4, availableParallelism()))
    this.maxPixels = options.maxPixels
    // One image decoding and two waiting, at the largest size.
    this.maxPendingPixels = options.maxPendingPixels ?? options.maxPixels * 3
    this.maxPendingJobs = options.maxPendingJobs ?? 64
    this.timeoutMs = options.timeoutMs ?? DECODE_DEFAULTS.timeoutMs
    this.heapMb = options.heapMb ?? DECODE_DEFAULTS.heapMb
  }

  /** Decode and preprocess an image off the event loop: bytes → 784 values and whether a stroke was found. Throws UserError, TooManyPixelsError or DecoderBusyError. */
  decode(bytes: Buffer, name: string, preprocess: boolean): Promise<MnistInput> {
    const info = inspectImage(bytes, name)
    this.checkPixels(info, name)
    if (this.closed) throw new DecoderBusyError(5)
    // Small images are always admitted while the count allows: only large ones can exhaust memory.
    if (this.pendingJobs >= this.maxPendingJobs || (this.pendingPixels > 0 && this.pendingPixels + info.pixels > this.maxPendingPixels)) {
      throw new DecoderBusyError(Math.min(30, 1 + Math.ceil(this.pendingPixels / 8e6)))
    }

    this.pendingPixels += info.pixels
    this.pendingJobs += 1
    return new Promise<MnistInput>((resolve, reject) => {
      this.queue.push({job: {id: this.nextId++, bytes, name, preprocess}, pixels: info.pixels, resolve, reject})
      this.dispatch()
    })
  }

  /**
   * Refuse an upload from its first bytes, while the rest is still arriving,
   * when they already decide what {@link decode} would answer: not an image,
   * over the pixel budget, a structure beyond the limits. Silent otherwise.
   */
  refuseEarly(prefix: Uint8Array, name: string): void {
    const info = inspectPrefix(prefix, name)
    if (info) this.checkPixels(info, name)
  }

  private checkPixels(info: ImageInfo, name: string): void {
    if (info.pixels > this.maxPixels) {
      throw new TooManyPixelsError(
        `${name}: the image is ${info.width}×${info.height} pixels, more than this server decodes (${+(this.maxPixels / 1e6).toFixed(1)} megapixels); shrink it first`,
      )
    }
  }

  /** Start one worker now, so that its start-up overlaps the caller's own (predict loads its model meanwhile). */
  warm(): void {
    if (this.slots.length === 0 && !this.closed) this.spawn()
  }

  /** Images admitted and not yet answered. */
  get pending(): {jobs: number; pixels: number} {
    return {jobs: this.pendingJobs, pixels: this.pendingPixels}
  }

  /**
   * Start queued jobs on free workers. Decoding takes about 50 bytes of
   * memory a pixel, so at most one budget's worth of pixels decodes at once:
   * a second large image waits while small ones go past it.
   */
  private dispatch(): void {
    for (;;) {
      const running = this.slots.reduce((sum, slot) => sum + (slot.job?.pixels ?? 0), 0)
      const index = this.queue.findIndex((pending) => running === 0 || running + pending.pixels <= this.maxPixels)
      if (index === -1) return
      let slot = this.slots.find((candidate) => candidate.job === undefined)
      if (!slot && this.slots.length < this.size) slot = this.spawn()
      if (!slot) return
      const [pending] = this.queue.splice(index, 1)
      slot.job = pending
      // A busy worker keeps the process alive (predict awaits it); an idle one does not.
      slot.worker.ref()
      if (slot.ready) this.startClock(slot)
      slot.worker.postMessage(pending.job)
    }
  }

  private startClock(slot: Slot): void {
    slot.timer = setTimeout(() => this.timedOut(slot), this.timeoutMs)
  }

  /** A decode that outlived its time: its worker is stopped (a decoder cannot be interrupted otherwise) and replaced on demand. */
  private timedOut(slot: Slot): void {
    const pending = slot.job
    if (!pending) return
    this.retire(slot)
    const seconds = +(this.timeoutMs / 1000).toFixed(1)
    pending.reject(
      new UserError(
        `${pending.job.name}: decoding took longer than ${seconds} s and was stopped; the file is built to be costly to decode, re-export it as a plain PNG or JPEG`,
      ),
    )
    void slot.worker.terminate()
    if (!this.closed) this.dispatch()
  }

  /** Take a slot out of the pool; its job, if any, is settled by the caller. */
  private retire(slot: Slot): void {
    const index = this.slots.indexOf(slot)
    if (index !== -1) this.slots.splice(index, 1)
    clearTimeout(slot.timer)
    if (slot.job) this.settle(slot.job)
    slot.job = undefined
  }

  private spawn(): Slot {
    const worker = startModuleWorker('decode-worker', {
      resourceLimits: {maxOldGenerationSizeMb: this.heapMb, maxYoungGenerationSizeMb: DECODE_DEFAULTS.youngMb},
    })
    const slot: Slot = {worker, job: undefined, ready: false}
    worker.on('message', (result: DecodeResult | typeof WORKER_READY) => {
      if (result === WORKER_READY) {
        slot.ready = true
        if (slot.job) this.startClock(slot)
        return
      }

      const pending = slot.job
      if (!pending || pending.job.id !== result.id) return
      clearTimeout(slot.timer)
      slot.worker.unref()
      slot.job = undefined
      this.settle(pending)
      if ('pixels' in result) pending.resolve({pixels: result.pixels, stroke: result.stroke})
      else pending.reject(result.userError ? new UserError(result.error) : new Error(result.error))
      this.dispatch()
    })
    // A worker that dies (out of memory, a decoder bug) takes only its own job with it.
    const lost = (error: Error) => {
      if (!this.slots.includes(slot)) return
      const pending = slot.job
      this.retire(slot)
      if (pending) {
        const outOfMemory = (error as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY'
        pending.reject(
          outOfMemory
            ? new TooManyPixelsError(
                `${pending.job.name}: decoding needed more than ${this.heapMb} MB of memory and was stopped; shrink the image or re-export it`,
              )
            : new Error(`image decoder stopped: ${error.message}`),
        )
      }

      if (!this.closed) this.dispatch()
    }

    worker.on('error', lost)
    worker.on('exit', (code) => lost(new Error(`exit code ${code}`)))
    // Idle workers must not keep the process alive.
    worker.unref()
    this.slots.push(slot)
    return slot
  }

  private settle(pending: Pending): void {
    this.pendingPixels -= pending.pixels
    this.pendingJobs -= 1
  }

  async close(): Promise<void> {
    this.closed = true
    for (const pending of this.queue.splice(0)) {
      this.settle(pending)
      pending.reject(new DecoderBusyError(5))
    }

    await Promise.all(
      this.slots.splice(0).map(async (slot) => {
        clearTimeout(slot.timer)
        slot.job?.reject(new DecoderBusyError(5))
        await slot.worker.terminate()
      }),
    )
  }
}
