/**
 * The worker thread of `./cnn-parallel.ts`: its own kernel instance, the
 * second half of each batch.
 */
import {workerData} from 'node:worker_threads'

import {CnnKernel, weightedSoftmaxLoss} from './cnn-kernel.js'
import {Barrier, CONTROL, Shared, halves, runPhases} from './cnn-parallel.js'

const {module, buffer, maxBatch, parameterCount} = workerData as {module: WebAssembly.Module; buffer: SharedArrayBuffer; maxBatch: number; parameterCount: number}
const kernel = new CnnKernel(new WebAssembly.Instance(module, {}))
const shared = new Shared(buffer, maxBatch, parameterCount)
const barrier = new Barrier(shared.control, CONTROL.worker, CONTROL.main)

try {
  barrier.meet()
  for (;;) {
    barrier.meet()
    const batch = Atomics.load(shared.control, CONTROL.batch)
    if (batch === 0) break
    const [other, mine] = halves(batch)
    const epsilon = shared.scalars[3]
    kernel.setInput(shared.images, mine[0], mine[1], batch)
    kernel.params.set(shared.params)
    runPhases(kernel, shared, barrier, mine, other, batch, epsilon, () => {
      const weights = Array.from(shared.scalars.subarray(0, 3))
      const {loss, correct, dLogits} = weightedSoftmaxLoss(kernel.logits(mine[0], mine[1]), shared.labels.subarray(mine[0], mine[1]), weights, shared.scalars[4])
      kernel.setDLogits(dLogits, mine[0])
      shared.scalars[5] = loss
      shared.scalars[6] = correct
    })
    shared.halfGrads.set(kernel.halfGrads(1))
    barrier.meet()
  }
} catch (error) {
  barrier.fail()
  throw error
}
