/**
 * Uploaded images are decoded in worker threads, never on the event loop: a
 * 6000×6000 JPEG takes seconds to decode, and health checks, history pages
 * and event streams must not wait for it. Before any decoding the header is
 * read here and its pixel count checked against the server's budget; and the
 * pixels waiting for a worker are bounded too, so a burst of large uploads is
 * told to come back later (503 + Retry-After) instead of piling up memory.
 */
import {availableParallelism} from 'node:os'
import type {Worker} from 'node:worker_threads'

import {UserError} from '../errors.js'
import {inspectImage} from '../images/preprocess.js'
import {startModuleWorker} from './worker.js'

export interface DecodeJob {
  id: number
  bytes: Uint8Array
  name: string
  preprocess: boolean
}

export type DecodeResult = {id: number; pixels: Float32Array} | {id: number; error: string; userError: boolean}

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
}

interface Pending {
  job: DecodeJob
  pixels: number
  resolve(pixels: Float32Array): void
  reject(error: unknown): void
}

interface Slot {
  worker: Worker
  job: Pending | undefined
}

export class DecodePool {
  readonly maxPixels: number
  private readonly maxPendingPixels: number
  private readonly maxPendingJobs: number
  private readonly size: number
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
  }

  /** Decode and preprocess an image off the event loop: bytes → 784 values. Throws UserError, TooManyPixelsError or DecoderBusyError. */
  decode(bytes: Buffer, name: string, preprocess: boolean): Promise<Float32Array> {
    const info = inspectImage(bytes, name)
    if (info.pixels > this.maxPixels) {
      throw new TooManyPixelsError(
        `${name}: the image is ${info.width}×${info.height} pixels, more than this server decodes (${+(this.maxPixels / 1e6).toFixed(1)} megapixels); shrink it first`,
      )
    }

    if (this.closed) throw new DecoderBusyError(5)
    // Small images are always admitted while the count allows: only large ones can exhaust memory.
    if (this.pendingJobs >= this.maxPendingJobs || (this.pendingPixels > 0 && this.pendingPixels + info.pixels > this.maxPendingPixels)) {
      throw new DecoderBusyError(Math.min(30, 1 + Math.ceil(this.pendingPixels / 8e6)))
    }

    this.pendingPixels += info.pixels
    this.pendingJobs += 1
    return new Promise<Float32Array>((resolve, reject) => {
      this.queue.push({job: {id: this.nextId++, bytes, name, preprocess}, pixels: info.pixels, resolve, reject})
      this.dispatch()
    })
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
      slot.worker.postMessage(pending.job)
    }
  }

  private spawn(): Slot {
    const worker = startModuleWorker('decode-worker')
    const slot: Slot = {worker, job: undefined}
    worker.on('message', (result: DecodeResult) => {
      const pending = slot.job
      if (!pending || pending.job.id !== result.id) return
      slot.job = undefined
      this.settle(pending)
      if ('pixels' in result) pending.resolve(result.pixels)
      else pending.reject(result.userError ? new UserError(result.error) : new Error(result.error))
      this.dispatch()
    })
    // A worker that dies (out of memory, a decoder bug) takes only its own job with it.
    const lost = (reason: string) => {
      const index = this.slots.indexOf(slot)
      if (index === -1) return
      this.slots.splice(index, 1)
      if (slot.job) {
        this.settle(slot.job)
        slot.job.reject(new Error(`image decoder stopped: ${reason}`))
        slot.job = undefined
      }

      if (!this.closed) this.dispatch()
    }

    worker.on('error', (error) => lost(error.message))
    worker.on('exit', (code) => lost(`exit code ${code}`))
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

    await Promise.all(this.slots.splice(0).map(async (slot) => {
      slot.job?.reject(new DecoderBusyError(5))
      await slot.worker.terminate()
    }))
  }
}
