import {expect} from 'chai'
import * as tf from '@tensorflow/tfjs-core'

import {plainTrainingLogits, plainWeightedCrossEntropy} from '../../src/engine/reference.js'
import {createNetwork, describeNetwork, initialValues, type Network} from '../../src/model/network.js'
import {dropoutMask} from '../../src/engine/dropout.js'
import {tapedTrainStep, weightedCrossEntropy} from '../../src/model/step.js'
import {on, relativeError, seeded, withBothBackends} from './helpers.js'

const CLASS_WEIGHTS = [1.39, 5.56, 0.48]
const SPEC = describeNetwork('cnn', 3)
const WIDE = describeNetwork('wide', 3)
/** Gradients summed over a batch through two batch-norms: float32 differences stay well under this. */
const TOLERANCE = 1e-4

function batch(size: number): {x: tf.Tensor4D; y: tf.Tensor1D; w: tf.Tensor1D} {
  return {
    x: tf.mul(seeded([size, 28, 28, 1], 21), 1.5) as tf.Tensor4D,
    y: tf.tensor1d(
      Array.from({length: size}, (_, i) => (i * 7) % 3),
      'int32',
    ),
    w: tf.tensor1d(CLASS_WEIGHTS),
  }
}

function gradients(network: Network, fused: boolean, size: number, mask?: Float32Array): tf.Tensor[] {
  const {x, y, w} = batch(size)
  const names = Object.keys(network.params)
  const loss = () =>
    fused
      ? weightedCrossEntropy(network.logits(x, true, mask), y, w)
      : plainWeightedCrossEntropy(plainTrainingLogits(network.description, network, x, mask), y, w)
  const {value, grads} = tf.variableGrads(loss as () => tf.Scalar, Object.values(network.params))
  return [value, ...names.map((name) => grads[network.params[name].name])]
}

describe('fused CNN training ops', function () {
  // The plain ops on the cpu backend are the reference: up to 126 s a test on a slow 2-core machine.
  this.timeout(600_000)
  let restore: () => Promise<void>
  before(async () => {
    restore = await withBothBackends()
  })
  after(async () => restore())

  for (const net of [SPEC, WIDE]) {
    it(`give the same loss and gradients for every parameter as plain ops on cpu (${net.preset}${net.hidden ? ', dropout mask' : ''})`, async () => {
      const network = createNetwork(net, initialValues(net, 5))
      const mask = net.hidden ? dropoutMask(net.hidden.dropout, net.hidden.units, 3, 1, 0, 6) : undefined
      try {
        const [plainLoss, ...plain] = await on('cpu', () => gradients(network, false, 6, mask))
        const [fusedLoss, ...fused] = await on('cpu', () => gradients(network, true, 6, mask))
        expect(fusedLoss[0]).to.be.closeTo(plainLoss[0], 1e-5)
        const names = Object.keys(network.params)
        for (const [i, name] of names.entries()) {
          // The conv biases feed batch-norm, which removes them: their true gradient is 0 and both sides give rounding noise.
          if (name.endsWith('conv1.bias') || name.endsWith('conv2.bias')) expect(Math.max(...fused[i].map(Math.abs)), name).to.be.below(1e-4)
          else expect(relativeError(fused[i], plain[i]), name).to.be.below(TOLERANCE)
        }
      } finally {
        network.dispose()
      }
    })
  }

  it('update the running statistics as PyTorch does (momentum 0.1, unbiased variance)', async () => {
    await tf.setBackend('wasm')
    const network = createNetwork(SPEC, initialValues(SPEC, 5))
    try {
      const {x} = batch(4)
      tf.tidy(() => {
        network.logits(x, true)
      })
      const z = tf.tidy(() => tf.add(tf.conv2d(x, network.params['conv1.kernel'] as tf.Tensor4D, 1, 'same'), network.params['conv1.bias']))
      const {mean, variance} = tf.moments(z, [0, 1, 2])
      const n = 4 * 28 * 28
      const expectedMean = Float32Array.from(await mean.data(), (m) => 0.1 * m)
      const expectedVariance = Float32Array.from(await variance.data(), (v) => 0.9 + 0.1 * v * (n / (n - 1)))
      expect(relativeError(Float32Array.from(await network.buffers['bn1.movingMean'].data()), expectedMean)).to.be.below(1e-4)
      expect(relativeError(Float32Array.from(await network.buffers['bn1.movingVariance'].data()), expectedVariance)).to.be.below(1e-4)
      tf.dispose([z, mean, variance])
    } finally {
      network.dispose()
    }
  })

  it('train through the taped step on cpu: a few Adam steps reduce the loss on a fixed batch', async () => {
    // Eight taped steps of eight images on the cpu backend (its convolution gradients are slow).
    await tf.setBackend('cpu')
    const network = createNetwork(SPEC, initialValues(SPEC, 9))
    const optimizer = tf.train.adam(1e-3)
    const {x, y, w} = batch(8)
    try {
      const losses: number[] = []
      for (let i = 0; i < 8; i++) {
        const {loss, correct} = tapedTrainStep(network, optimizer, x, y, w)
        losses.push((await loss.data())[0])
        expect((await correct.data())[0]).to.be.within(0, 8)
        tf.dispose([loss, correct])
      }

      expect(losses.at(-1)).to.be.below(losses[0] * 0.8)
    } finally {
      tf.dispose([x, y, w])
      network.dispose()
      optimizer.dispose()
    }
  })

  it('keep evaluation mode (running statistics) unchanged and deterministic', async () => {
    await tf.setBackend('wasm')
    const network = createNetwork(SPEC, initialValues(SPEC, 3))
    const {x} = batch(3)
    try {
      const a = await tf.tidy(() => network.logits(x, false)).data()
      const b = await tf.tidy(() => network.logits(x, false)).data()
      expect([...a]).to.deep.equal([...b])
      expect(Float32Array.from(await network.buffers['bn2.movingMean'].data()).every((v) => v === 0)).to.equal(true)
    } finally {
      network.dispose()
    }
  })
})
