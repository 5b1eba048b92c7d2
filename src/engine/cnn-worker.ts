/**
 * The worker thread of `./cnn-parallel.ts`: its own kernel instance, the
 * second half of each batch.
 */
import {once} from 'node:events'
import {parentPort} from 'node:worker_threads'

import {CnnKernel, weightedSoftmaxLoss} from './cnn-kernel.js'
import {Barrier, CONTROL, SCALARS, Shared, type WorkerStart, halves, runPhases, setSideMask} from './cnn-parallel.js'

if (!parentPort) throw new Error('cnn-worker.ts runs as a worker thread')
// Started ahead of its step (prestartKernelWorker), it waits here for what to compute.
const [{module, buffer, maxBatch, parameterCount, network}] = (await once(parentPort, 'message')) as [WorkerStart]
const kernel = new CnnKernel(new WebAssembly.Instance(module, {}), network)
const classes = kernel.classes
const shared = new Shared(buffer, maxBatch, parameterCount)
const barrier = new Barrier(shared.control, CONTROL.worker, CONTROL.main)

try {
  barrier.meet()
  for (;;) {
    barrier.meet()
    const batch = Atomics.load(shared.control, CONTROL.batch)
    if (batch === 0) break
    if (batch < 0) {
      // Evaluation: the −batch images at `images`, with the main thread's weights and running statistics.
      kernel.params.set(shared.params)
      kernel.running.set(shared.running.subarray(0, kernel.running.length))
      shared.logits.set(kernel.infer(shared.images, -batch, shared.scalars[SCALARS.epsilon]))
      barrier.meet()
      continue
    }

    const [other, mine] = halves(batch)
    const s = shared.scalars
    const epsilon = s[SCALARS.epsilon]
    kernel.setInput(shared.images, mine[0], mine[1], batch)
    setSideMask(kernel, {seed: s[SCALARS.dropoutSeed], step: s[SCALARS.step]}, mine)
    kernel.params.set(shared.params)
    runPhases(kernel, shared, barrier, mine, other, batch, epsilon, () => {
      const weights = Array.from(s.subarray(SCALARS.weights, SCALARS.weights + classes))
      const offsets = Array.from(s.subarray(SCALARS.offsets, SCALARS.offsets + classes))
      const labels = shared.labels.subarray(mine[0], mine[1])
      const {loss, correct, dLogits} = weightedSoftmaxLoss(kernel.logits(mine[0], mine[1]), labels, weights, s[SCALARS.weightSum], offsets)
      kernel.setDLogits(dLogits, mine[0])
      s[SCALARS.loss] = loss
      s[SCALARS.correct] = correct
    })
    shared.halfGrads.set(kernel.halfGrads(1))
    barrier.meet()
  }
} catch (error) {
  barrier.fail()
  throw error
}
