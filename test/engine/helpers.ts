import {execFile} from 'node:child_process'
import {promisify} from 'node:util'

import * as tf from '@tensorflow/tfjs-core'

import {selectBackend} from '../../src/engine/backend.js'

/** wasm (with the training kernels) and cpu both available; the test's backend restored afterwards. */
export async function withBothBackends(): Promise<() => Promise<void>> {
  const previous = tf.getBackend()
  await selectBackend('cpu', {training: true})
  await selectBackend('wasm', {training: true})
  return async () => {
    if (previous && previous !== tf.getBackend()) await tf.setBackend(previous)
  }
}

/** Run `f` on a backend and bring its result back as plain numbers. */
export async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor | tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend)
  const out = tf.tidy(f)
  const list = Array.isArray(out) ? out : [out]
  const values = await Promise.all(list.map(async (t) => Float32Array.from(await t.data())))
  tf.dispose(list)
  return values
}

/** Largest |a − b| relative to the largest |b| (1 when b is all zeros), so tolerances hold at any scale. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`)
  let diff = 0
  let scale = 0
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]))
    scale = Math.max(scale, Math.abs(b[i]))
  }

  return diff / Math.max(scale, 1e-12)
}

/** Seeded uniform values in [-1, 1): the same on every backend. */
export function seeded(shape: number[], seed: number): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, 'float32', seed)
}

/** What `trainInFreshProcess` reports: a SHA-256 of the weights after the steps, and the threads the kernel trained on. */
export interface FreshTraining {
  weights: string
  threads: number
}

/**
 * Three Adam steps of a preset with `classes` outputs on seeded batches in a
 * fresh process (the wasm backend and our kernel are created once per
 * process), on `threads`: what the bit-identity tests compare.
 */
export async function trainInFreshProcess(threads: number, preset: 'cnn' | 'wide' = 'cnn', classes = 3): Promise<FreshTraining> {
  const script = `
    import {createHash} from 'node:crypto'
    import * as tf from '@tensorflow/tfjs-core'
    import {selectBackend} from './src/engine/backend.ts'
    import {trainingThreads} from './src/engine/cnn-step.ts'
    import {createNetwork, describeNetwork, initialValues, readValues} from './src/model/network.ts'
    import {trainStep} from './src/model/step.ts'
    const [threads, preset, classes] = process.argv.slice(-3)
    const K = Number(classes)
    await selectBackend('wasm', {threads: Number(threads), training: true, model: preset})
    const net = describeNetwork(preset, K)
    const network = createNetwork(net, initialValues(net, 3))
    const optimizer = tf.train.adam(1e-3)
    const w = tf.tensor1d(Array.from({length: K}, (_, k) => 0.5 + k / 3))
    for (let step = 0; step < 3; step++) {
      const x = tf.randomUniform([32, 28, 28, 1], -0.4, 2.8, 'float32', step)
      const y = tf.tensor1d(Array.from({length: 32}, (_, i) => (i * (step + 2)) % K), 'int32')
      tf.dispose(Object.values(trainStep(network, optimizer, x, y, w, {dropoutSeed: 17})))
    }
    const values = await readValues(network)
    const hash = createHash('sha256')
    for (const name of Object.keys(values).sort()) hash.update(Buffer.from(values[name].buffer))
    process.stdout.write(JSON.stringify({weights: hash.digest('hex'), threads: trainingThreads()}))
  `
  const {stdout} = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', script, String(threads), preset, String(classes)],
    {
      cwd: process.cwd(),
      timeout: 100_000,
    },
  )
  return JSON.parse(stdout) as FreshTraining
}
