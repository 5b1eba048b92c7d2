import {expect} from 'chai'
import * as tf from '@tensorflow/tfjs-core'

import {on, relativeError, seeded, withBothBackends} from './helpers.js'

/** float32 sums of up to a few thousand terms, in a different order than the cpu backend's loops. */
const TOLERANCE = 1e-5

type Pad = 'same' | 'valid'
// [batch, height, width, inChannels, outChannels, kernel, stride, pad]: odd and even sizes, both paddings, strides 1 and 2, the CNN's own layers.
const CONV_CASES: Array<[number, number, number, number, number, number, number, Pad]> = [
  [2, 5, 7, 3, 4, 3, 1, 'same'],
  [3, 6, 5, 2, 3, 3, 2, 'same'],
  [2, 7, 7, 3, 5, 3, 1, 'valid'],
  [2, 9, 8, 2, 3, 3, 2, 'valid'],
  [1, 6, 6, 1, 2, 2, 1, 'same'],
  [2, 8, 6, 2, 2, 5, 1, 'same'],
  [4, 28, 28, 1, 16, 3, 1, 'same'],
  [4, 14, 14, 16, 32, 3, 1, 'same'],
]

describe('wasm training kernels match the cpu backend', function () {
  let restore: () => Promise<void>
  before(async () => {
    restore = await withBothBackends()
  })

  it('replaces the stock wasm kernels', () => {
    for (const name of [tf.Conv2DBackpropFilter, tf.Conv2DBackpropInput, tf.MaxPoolGrad]) {
      expect(tf.getKernel(name, 'wasm')?.kernelFunc.name, name).to.match(/^(conv2DBackpropFilter|conv2DBackpropInput|maxPoolGrad)$/)
      expect(tf.getKernel(name, 'wasm')?.setupFunc, name).to.equal(undefined)
    }
  })
  after(async () => restore())

  for (const [b, h, w, cin, cout, k, stride, pad] of CONV_CASES) {
    const label = `${b}×${h}×${w}×${cin} → ${cout}, ${k}×${k}, stride ${stride}, ${pad}`
    const x = () => seeded([b, h, w, cin], 1) as tf.Tensor4D
    const filter = () => seeded([k, k, cin, cout], 2) as tf.Tensor4D
    const dy = () => seeded(tf.conv2d(x(), filter(), stride, pad).shape, 3) as tf.Tensor4D

    it(`Conv2DBackpropFilter: ${label}`, async () => {
      const run = () => tf.engine().runKernel(tf.Conv2DBackpropFilter, {x: x(), dy: dy()}, {strides: stride, pad, dataFormat: 'NHWC', filterShape: [k, k, cin, cout]}) as tf.Tensor
      const [cpu] = await on('cpu', run)
      const [wasm] = await on('wasm', run)
      expect(relativeError(wasm, cpu)).to.be.below(TOLERANCE)
    })

    it(`Conv2DBackpropInput: ${label}`, async () => {
      const run = () => tf.engine().runKernel(tf.Conv2DBackpropInput, {dy: dy(), filter: filter()}, {strides: stride, pad, dataFormat: 'NHWC', inputShape: [b, h, w, cin]}) as tf.Tensor
      const [cpu] = await on('cpu', run)
      const [wasm] = await on('wasm', run)
      expect(relativeError(wasm, cpu)).to.be.below(TOLERANCE)
    })
  }

  it('Conv2DBackpropFilter with explicit padding', async () => {
    const pad = [
      [0, 0],
      [2, 0],
      [1, 1],
      [0, 0],
    ] as tf.backend_util.ExplicitPadding
    const x = () => seeded([2, 6, 5, 2], 4)
    const dy = () => seeded([2, 6, 5, 3], 5)
    const run = () => tf.engine().runKernel(tf.Conv2DBackpropFilter, {x: x(), dy: dy()}, {strides: 1, pad, dataFormat: 'NHWC', filterShape: [3, 3, 2, 3]} as unknown as tf.NamedAttrMap) as tf.Tensor
    const [cpu] = await on('cpu', run)
    const [wasm] = await on('wasm', run)
    expect(relativeError(wasm, cpu)).to.be.below(TOLERANCE)
  })

  it('rejects channels-first data instead of computing something else', async () => {
    await tf.setBackend('wasm')
    const run = () => tf.engine().runKernel(tf.Conv2DBackpropFilter, {x: seeded([1, 4, 4, 2], 1), dy: seeded([1, 4, 4, 2], 2)}, {strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 2]})
    expect(() => tf.tidy(run)).to.throw(/NHWC/)
  })

  // [batch, height, width, channels, window, stride, pad]
  const POOL_CASES: Array<[number, number, number, number, number, number, Pad]> = [
    [2, 6, 6, 3, 2, 2, 'valid'],
    [2, 7, 5, 2, 2, 2, 'valid'],
    [1, 7, 7, 3, 3, 2, 'same'],
    [2, 5, 6, 2, 3, 1, 'same'],
  ]
  for (const [b, h, w, c, size, stride, pad] of POOL_CASES) {
    it(`MaxPoolGrad: ${b}×${h}×${w}×${c}, window ${size}, stride ${stride}, ${pad}`, async () => {
      const run = () => tf.grad((x: tf.Tensor) => tf.mul(tf.maxPool(x as tf.Tensor4D, size, stride, pad), seeded(tf.maxPool(x as tf.Tensor4D, size, stride, pad).shape, 7)))(seeded([b, h, w, c], 6))
      const [cpu] = await on('cpu', run)
      const [wasm] = await on('wasm', run)
      expect(relativeError(wasm, cpu)).to.be.below(TOLERANCE)
    })
  }

  it('MaxPoolGrad sends ties to the first maximum, as the cpu backend does', async () => {
    const run = () => tf.grad((x: tf.Tensor) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'))(tf.relu(seeded([2, 4, 4, 3], 8)))
    const [cpu] = await on('cpu', run)
    const [wasm] = await on('wasm', run)
    expect([...wasm]).to.deep.equal([...cpu])
  })

  for (const meanRank of [1, 4]) {
    it(`FusedBatchNorm gradient (statistics of rank ${meanRank}) for x, mean, variance, scale and offset`, async () => {
      // The registered gradient serves every backend, so the reference differentiates the formula written out in elementary ops.
      const run = (fused: boolean) => () => {
        const shape = meanRank === 1 ? [3] : [1, 1, 1, 3]
        const x = seeded([2, 5, 3, 3], 9)
        const mean = seeded(shape, 10)
        const variance = tf.add(tf.abs(seeded(shape, 11)), 0.5)
        const scale = seeded(shape, 12)
        const offset = seeded(shape, 13)
        const weights = seeded([2, 5, 3, 3], 14)
        const normalise = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
          fused ? tf.batchNorm(a, m, v, o, s, 1e-3) : tf.add(tf.mul(tf.mul(tf.sub(a, m), tf.rsqrt(tf.add(v, 1e-3))), s), o)
        const f = (a: tf.Tensor, m: tf.Tensor, v: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => tf.sum(tf.mul(normalise(a, m, v, s, o), weights))
        return tf.grads(f)([x, mean, variance, scale, offset])
      }

      const cpu = await on('cpu', run(false))
      const wasm = await on('wasm', run(true))
      for (const [i, grad] of wasm.entries()) expect(relativeError(grad, cpu[i]), `input ${i}`).to.be.below(TOLERANCE)
    })
  }
})
