/**
 * A training run off the server's event loop: this file is the entry point of
 * a `worker_threads` Worker. It trains with the options it was given and
 * reports progress to the server as messages (see `WorkerMessageSchema`).
 */
import {Writable} from 'node:stream'
import {parentPort, workerData} from 'node:worker_threads'

import {errorMessage, isUserError} from '../errors.js'
import {type TrainRun, runTraining} from '../training/run.js'
import type {WorkerMessage} from './training.js'

const port = parentPort
if (!port) throw new Error('training-worker runs inside a Worker only')

const post = (message: WorkerMessage) => port.postMessage(message)
const controller = new AbortController()
/** The server sets it to 1 to cancel; read after every batch, since training keeps this thread's event loop busy. */
const cancelFlag = new Int32Array((workerData as {cancel: SharedArrayBuffer}).cancel)

// The trainer's progress lines (one per epoch when not on a terminal), forwarded as log events.
const progress = new Writable({
  write(chunk: Buffer | string, _encoding, done) {
    for (const line of chunk.toString().split('\n')) if (line.trim()) post({type: 'log', line: line.trim()})
    done()
  },
})

try {
  const summary = await runTraining((workerData as {run: TrainRun}).run, {
    onBatchEnd: (info) => {
      post({type: 'batch', ...info})
      if (Atomics.load(cancelFlag, 0) === 1) controller.abort()
    },
    onEpochEnd: (log) => post({type: 'epoch', log}),
    signal: controller.signal,
    progress,
  })
  post({type: 'done', summary: JSON.parse(JSON.stringify(summary)) as Record<string, unknown>})
} catch (error) {
  post({type: 'failed', message: errorMessage(error).replaceAll(/\s+/g, ' '), cancelled: controller.signal.aborted, userError: isUserError(error)})
} finally {
  port.close()
}
