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
