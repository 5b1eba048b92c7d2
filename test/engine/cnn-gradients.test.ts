import {expect} from 'chai'
import * as tf from '@tensorflow/tfjs-core'

import {CNN_PARAMETERS, cnnGradients, routeToFirstMaximum} from '../../src/engine/cnn-gradients.js'
import {preferWasmStepEngine} from '../../src/engine/cnn-step.js'
import {plainTrainingLogits, plainWeightedCrossEntropy} from '../../src/engine/reference.js'
import {BN_EPSILON, createNetwork, initialValues, type Network} from '../../src/model/network.js'
import {tapedTrainStep, trainStep} from '../../src/model/step.js'
import {on, relativeError, seeded, trainInFreshProcess, withBothBackends} from './helpers.js'

const CLASS_WEIGHTS = [1.39, 5.56, 0.48]
/** float32 sums over a batch through two batch norms, in another order than the cpu backend's. */
const TOLERANCE = 1e-4

/**
 * Images whose top half is one constant, as MNIST's background is: the first
 * convolution is constant there too, so pooling windows hold ties, positive
 * ones included, and the gradient must go to the first of them only.
 */
function batch(size: number): {x: tf.Tensor4D; y: tf.Tensor1D; w: tf.Tensor1D} {
  const noise = tf.mul(seeded([size, 28, 28, 1], 31), 1.5)
  const flat = tf.concat([tf.fill([size, 14, 28, 1], -0.42), tf.ones([size, 14, 28, 1])], 1)
  return {
    x: tf.where(tf.greater(flat, 0), noise, flat) as tf.Tensor4D,
    y: tf.tensor1d(Array.from({length: size}, (_, i) => (i * 7) % 3), 'int32'),
    w: tf.tensor1d(CLASS_WEIGHTS),
  }
}

/** Loss, the ten gradients and correct count from taped plain ops (moments, batchNorm, relu, maxPool). */
function reference(network: Network, size: number): tf.Tensor[] {
  const {x, y, w} = batch(size)
  const params = CNN_PARAMETERS.map((name) => network.params[name])
  let correct: tf.Tensor | undefined
  const {value, grads} = tf.variableGrads(() => {
    const logits = plainTrainingLogits(network, x)
    correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'int32')))
    return plainWeightedCrossEntropy(logits, y, w)
  }, params)
  return [value, ...params.map((p) => grads[p.name]), correct!]
}

function oneKernel(network: Network, size: number): tf.Tensor[] {
  const {x, y, w} = batch(size)
  const {loss, correct, gradients} = cnnGradients(x, y, w, network.params, BN_EPSILON)
  return [loss, ...CNN_PARAMETERS.map((name) => gradients[name]), correct]
}

describe('the CNN training step as one wasm kernel (through XNNPACK)', function () {
  let restore: () => Promise<void>
  before(async () => {
    restore = await withBothBackends()
    preferWasmStepEngine('xnnpack')
  })
  after(async () => {
    preferWasmStepEngine('kernel')
    await restore()
  })

  for (const size of [1, 6]) {
    it(`gives the loss, every gradient and the correct count of taped plain ops on cpu (batch ${size}, with ties)`, async () => {
      const network = createNetwork('cnn', initialValues('cnn', 5, 3), 3)
      try {
        const cpu = await on('cpu', () => reference(network, size))
        const wasm = await on('wasm', () => oneKernel(network, size))
        expect(wasm[0][0]).to.be.closeTo(cpu[0][0], 1e-5)
        expect(wasm.at(-1)![0]).to.equal(cpu.at(-1)![0])
        for (const [i, name] of CNN_PARAMETERS.entries()) {
          // Conv biases feed batch norm, which removes them: their true gradient is 0 and both sides give rounding noise.
          if (name === 'conv1.bias' || name === 'conv2.bias') expect(Math.max(...wasm[i + 1].map(Math.abs)), name).to.be.below(1e-5)
          else expect(relativeError(wasm[i + 1], cpu[i + 1]), name).to.be.below(TOLERANCE)
        }
      } finally {
        network.dispose()
      }
    })
  }

  for (const inputChannels of [1, 2]) {
    it(`handles other shapes: 5×5 kernels, ${inputChannels} input channel(s), odd sizes that pooling floors`, async () => {
      const shapes: Record<string, number[]> = {
        'conv1.kernel': [5, 5, inputChannels, 3],
        'conv1.bias': [3],
        'bn1.gamma': [3],
        'bn1.beta': [3],
        'conv2.kernel': [3, 3, 3, 4],
        'conv2.bias': [4],
        'bn2.gamma': [4],
        'bn2.beta': [4],
        'dense.kernel': [2 * 2 * 4, 3],
        'dense.bias': [3],
      }
      const params = Object.fromEntries(Object.entries(shapes).map(([name, shape], i) => [name, tf.variable(tf.add(seeded(shape, 40 + i), name.endsWith('gamma') ? 1.5 : 0))]))
      const network = {kind: 'cnn', params, buffers: {}, logits: () => tf.zeros([1, 3]), dispose: () => tf.dispose(Object.values(params))} as unknown as Network
      const inputs = () => ({x: seeded([3, 11, 10, inputChannels], 50) as tf.Tensor4D, y: tf.tensor1d([2, 0, 1], 'int32'), w: tf.tensor1d(CLASS_WEIGHTS)})
      try {
        const cpu = await on('cpu', () => {
          const {x, y, w} = inputs()
          const {value, grads} = tf.variableGrads(() => plainWeightedCrossEntropy(plainTrainingLogits(network, x), y, w), CNN_PARAMETERS.map((n) => params[n]))
          return [value, ...CNN_PARAMETERS.map((n) => grads[params[n].name])]
        })
        const wasm = await on('wasm', () => {
          const {x, y, w} = inputs()
          const {loss, gradients} = cnnGradients(x, y, w, params as never, BN_EPSILON)
          return [loss, ...CNN_PARAMETERS.map((n) => gradients[n])]
        })
        expect(wasm[0][0]).to.be.closeTo(cpu[0][0], 1e-5)
        for (const [i, name] of CNN_PARAMETERS.entries()) {
          expect(wasm[i + 1].length, name).to.equal(cpu[i + 1].length)
          if (name === 'conv1.bias' || name === 'conv2.bias') continue
          expect(relativeError(wasm[i + 1], cpu[i + 1]), name).to.be.below(TOLERANCE)
        }
      } finally {
        network.dispose()
      }
    })
  }

  it('reads no uninitialised heap memory: the same gradients when every new allocation starts as NaN', async () => {
    const network = createNetwork('cnn', initialValues('cnn', 5, 3), 3)
    await tf.setBackend('wasm')
    const backend = tf.backend() as unknown as {
      makeOutput(shape: number[], dtype: string, offset?: number, values?: unknown): tf.TensorInfo
      typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array
    }
    const makeOutput = backend.makeOutput
    try {
      const clean = await on('wasm', () => oneKernel(network, 6))
      backend.makeOutput = function (shape, dtype, offset, values) {
        const info = makeOutput.call(this, shape, dtype, offset, values)
        if (offset === undefined && values == null && dtype === 'float32') backend.typedArrayFromHeap(info).fill(Number.NaN)
        return info
      }

      const poisoned = await on('wasm', () => oneKernel(network, 6))
      for (const [i, values] of poisoned.entries()) {
        expect(values.every(Number.isFinite), `output ${i}`).to.equal(true)
        expect([...values], `output ${i}`).to.deep.equal([...clean[i]])
      }
    } finally {
      backend.makeOutput = makeOutput
      network.dispose()
    }
  })

  it('routes each pooled gradient to the first of tied maxima, and none where the maximum is not positive', () => {
    // One image 2×4, one channel: two windows. Left: ties at (0,1) and (1,0); right: all zero (ReLU cut everything).
    const y = Float32Array.of(0.1, 0.5, 0, 0, 0.5, 0.2, 0, 0)
    const pooled = Float32Array.of(0.5, 0)
    const out = new Float32Array(8)
    const bits = (a: Float32Array) => new Int32Array(a.buffer)
    routeToFirstMaximum(out, bits(y), bits(pooled), Float32Array.of(3, 7), 1, 2, 4, 1)
    expect([...out]).to.deep.equal([0, 3, 0, 0, 0, 0, 0, 0])

    // Ties in the lower row only, and three channels interleaved.
    const y3 = new Float32Array(2 * 2 * 3)
    y3.set([0.9, 0.9, 0.9], 9) // (1,1) for all three channels
    y3.set([0.9], 6) // (1,0) channel 0: ties with (1,1)
    const out3 = new Float32Array(12)
    routeToFirstMaximum(out3, bits(y3), bits(Float32Array.of(0.9, 0.9, 0.9)), Float32Array.of(1, 2, 3), 1, 2, 2, 3)
    expect([...out3]).to.deep.equal([0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 3])
  })

  it('matches the cpu backend on constant images, where every pooling window is a tie', async () => {
    const network = createNetwork('cnn', initialValues('cnn', 8, 3), 3)
    const gradients = (backend: 'cpu' | 'wasm') =>
      on(backend, () => {
        const x = tf.concat([tf.fill([2, 28, 28, 1], 0.7), tf.fill([2, 28, 28, 1], -0.3)]) as tf.Tensor4D
        const y = tf.tensor1d([0, 1, 2, 0], 'int32')
        const w = tf.tensor1d(CLASS_WEIGHTS)
        const params = CNN_PARAMETERS.map((name) => network.params[name])
        if (backend === 'wasm') {
          const {gradients} = cnnGradients(x, y, w, network.params, BN_EPSILON)
          return CNN_PARAMETERS.map((name) => gradients[name])
        }

        const {grads} = tf.variableGrads(() => plainWeightedCrossEntropy(plainTrainingLogits(network, x), y, w), params)
        return params.map((p) => grads[p.name])
      })
    try {
      const cpu = await gradients('cpu')
      const wasm = await gradients('wasm')
      for (const [i, name] of CNN_PARAMETERS.entries()) {
        if (name === 'conv1.bias' || name === 'conv2.bias') continue
        expect(Math.max(...cpu[i].map(Math.abs)), name).to.be.above(1e-4)
        expect(relativeError(wasm[i], cpu[i]), name).to.be.below(TOLERANCE)
      }
    } finally {
      network.dispose()
    }
  })

  it('returns each batch norm’s batch mean and biased variance', async () => {
    const network = createNetwork('cnn', initialValues('cnn', 5, 3), 3)
    try {
      const expected = await on('cpu', () => {
        const {x} = batch(4)
        const z = tf.add(tf.conv2d(x, network.params['conv1.kernel'] as tf.Tensor4D, 1, 'same'), network.params['conv1.bias'])
        const {mean, variance} = tf.moments(z, [0, 1, 2])
        return [mean, variance]
      })
      const actual = await on('wasm', () => {
        const {x, y, w} = batch(4)
        const {statistics} = cnnGradients(x, y, w, network.params, BN_EPSILON)
        expect(statistics.map((s) => s.count)).to.deep.equal([4 * 28 * 28, 4 * 14 * 14])
        return [statistics[0].mean, statistics[0].variance]
      })
      expect(relativeError(actual[0], expected[0])).to.be.below(1e-5)
      expect(relativeError(actual[1], expected[1])).to.be.below(1e-5)
    } finally {
      network.dispose()
    }
  })

  it('trains as the taped step does: weights and running statistics after three Adam steps', async () => {
    const run = async (backend: 'cpu' | 'wasm') => {
      await tf.setBackend(backend)
      const network = createNetwork('cnn', initialValues('cnn', 9, 3), 3)
      const optimizer = tf.train.adam(1e-3)
      const {x, y, w} = batch(8)
      const step = backend === 'wasm' ? trainStep : tapedTrainStep
      for (let i = 0; i < 3; i++) tf.dispose(Object.values(step(network, optimizer, x, y, w)))
      const values = Object.fromEntries(
        await Promise.all(Object.entries({...network.params, ...network.buffers}).map(async ([name, v]) => [name, Float32Array.from(await v.data())] as const)),
      )
      tf.dispose([x, y, w])
      network.dispose()
      optimizer.dispose()
      return values
    }

    const cpu = await run('cpu')
    const wasm = await run('wasm')
    for (const name of Object.keys(cpu)) {
      // Adam moves the conv biases by ±lr a step on their rounding-noise gradient, whichever sign the noise has,
      // and the running means follow them (×0.1 a step): at most 3 × 2 × 1e-3 × 0.1 apart after three steps.
      if (name.startsWith('conv') && name.endsWith('.bias')) continue
      if (name.endsWith('movingMean')) for (const [i, v] of wasm[name].entries()) expect(v, name).to.be.closeTo(cpu[name][i], 1e-3)
      else expect(relativeError(wasm[name], cpu[name]), name).to.be.below(TOLERANCE)
    }
  })

  it('takes the one-kernel path on wasm: one CnnTrainingGradients and one AdamUpdate per parameter', async () => {
    await tf.setBackend('wasm')
    const network = createNetwork('cnn', initialValues('cnn', 2, 3), 3)
    const optimizer = tf.train.adam(1e-3)
    const {x, y, w} = batch(4)
    try {
      const profile = await tf.profile(() => {
        tf.dispose(Object.values(trainStep(network, optimizer, x, y, w)))
      })
      const names = profile.kernels.map((k) => k.name)
      expect(names.filter((n) => n === 'CnnTrainingGradients')).to.have.length(1)
      expect(names.filter((n) => n === 'AdamUpdate')).to.have.length(Object.keys(network.params).length)
      expect(names).to.not.include('Conv2DBackpropFilter')
    } finally {
      tf.dispose([x, y, w])
      network.dispose()
      optimizer.dispose()
    }
  })

  it('trains bit-identically on one and on two XNNPACK threads, run after run', async function () {
    this.timeout(120_000)
    const outputs = []
    for (const threads of [1, 2, 2]) outputs.push(await trainInFreshProcess(threads, 'xnnpack'))
    expect(outputs[0].engine).to.equal('xnnpack')
    expect(outputs[0].weights).to.match(/^[0-9a-f]{64}$/)
    expect(outputs[1].weights).to.equal(outputs[0].weights)
    expect(outputs[2].weights).to.equal(outputs[0].weights)
  })
})
