import {expect} from 'chai'
import * as tf from '@tensorflow/tfjs-core'

import {applyAdam} from '../../src/engine/adam.js'
import {seeded, withBothBackends} from './helpers.js'

interface State {
  values: number[][]
  slots: Array<{name: string; values: number[]}>
  powers: number[]
}

/** Three Adam steps on two variables, through tfjs's optimizer or the one-kernel update; everything the optimizer holds afterwards. */
async function threeSteps(fused: boolean, resumed = false): Promise<State> {
  const variables = [tf.variable(seeded([3, 4], 1), true, `a${fused}${resumed}`), tf.variable(seeded([5], 2), true, `b${fused}${resumed}`)]
  let optimizer = tf.train.adam(0.01)
  for (let step = 0; step < 3; step++) {
    if (resumed && step === 2) {
      // As a resumed run does: a fresh optimizer given the saved slots.
      const saved = await optimizer.getWeights()
      optimizer = tf.train.adam(0.01)
      await optimizer.setWeights(saved.map(({name, tensor}) => ({name, tensor: tf.clone(tensor)})))
    }

    const gradients = variables.map((v, i) => tf.mul(seeded(v.shape, 10 * step + i + 3), step + 1))
    if (fused) applyAdam(optimizer, variables, gradients)
    else optimizer.applyGradients(variables.map((v, i) => ({name: v.name, tensor: gradients[i]})))
    tf.dispose(gradients)
  }

  const internals = optimizer as unknown as {accBeta1: tf.Variable; accBeta2: tf.Variable}
  const state: State = {
    values: variables.map((v) => [...v.dataSync()]),
    slots: (await optimizer.getWeights()).map(({name, tensor}) => ({name: name.replace(/^[ab](true|false)+/, ''), values: [...tensor.dataSync()]})),
    powers: [internals.accBeta1.dataSync()[0], internals.accBeta2.dataSync()[0]],
  }
  tf.dispose(variables)
  optimizer.dispose()
  return state
}

describe('one-kernel Adam update', function () {
  let restore: () => Promise<void>
  before(async () => {
    restore = await withBothBackends()
  })
  after(async () => restore())

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`is bit-identical to tfjs's AdamOptimizer on ${backend}: values, moment slots, iteration count and β powers`, async () => {
      await tf.setBackend(backend)
      const expected = await threeSteps(false)
      const actual = await threeSteps(true)
      expect(actual.slots.map((s) => s.name)).to.deep.equal(['iter', '/m', '/m', '/v', '/v'])
      expect(actual).to.deep.equal(expected)
    })
  }

  it('continues from slots restored with setWeights, as a resumed run does', async () => {
    await tf.setBackend('wasm')
    const expected = await threeSteps(false, true)
    const actual = await threeSteps(true, true)
    expect(actual).to.deep.equal(expected)
  })

  it('agrees between cpu and wasm', async () => {
    await tf.setBackend('cpu')
    const cpu = await threeSteps(true)
    await tf.setBackend('wasm')
    const wasm = await threeSteps(true)
    expect(wasm.values).to.deep.equal(cpu.values)
  })
})
