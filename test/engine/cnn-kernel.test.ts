import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {availableParallelism, tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'
import * as tf from '@tensorflow/tfjs-core'

import {CLANG, KERNELS, buildKernels, sha256} from '../../scripts/build-kernels.js'
import {type CnnKernel, KERNEL_PARAMETERS, batchWeight, kernelModule, loadCnnKernel, weightedSoftmaxLoss} from '../../src/engine/cnn-kernel.js'
import {ParallelStep, halves} from '../../src/engine/cnn-parallel.js'
import {preferWasmStepEngine, wasmStepEngine} from '../../src/engine/cnn-step.js'
import {plainTrainingLogits, plainWeightedCrossEntropy} from '../../src/engine/reference.js'
import {BN_EPSILON, createNetwork, initialValues, type Network} from '../../src/model/network.js'
import {tapedTrainStep, trainStep} from '../../src/model/step.js'
import {on, relativeError, seeded, trainInFreshProcess, withBothBackends} from './helpers.js'

const CLASS_WEIGHTS = [1.39, 5.56, 0.48]
/**
 * float32 sums in another order than the cpu backend's, through two batch
 * norms, with fused multiply-adds (one rounding instead of two): relative to
 * the largest value, the same bound as the XNNPACK step's.
 */
const TOLERANCE = 1e-4

/** Images whose top half is one constant (MNIST's background): pooling windows hold ties, positive ones included. */
function images(size: number, seed = 31): {x: Float32Array; y: Int32Array} {
  const noise = seeded([size, 28, 28, 1], seed).dataSync()
  const x = Float32Array.from(noise, (v, i) => (i % 784 < 392 ? -0.42 : 1.5 * v))
  return {x, y: Int32Array.from({length: size}, (_, i) => (i * 7) % 3)}
}

function loaded(network: Network): CnnKernel {
  const kernel = loadCnnKernel()
  if (!kernel) throw new Error('relaxed SIMD is not available: the kernel tests need Node 22 or later')
  for (const name of KERNEL_PARAMETERS) kernel.slice(kernel.params, name).set(network.params[name].dataSync())
  return kernel
}

/** Loss, logits and the ten gradients from taped plain ops on cpu. */
async function reference(network: Network, x: Float32Array, y: Int32Array): Promise<Float32Array[]> {
  return on('cpu', () => {
    const xs = tf.tensor4d(x, [y.length, 28, 28, 1])
    const ys = tf.tensor1d(y, 'int32')
    const params = KERNEL_PARAMETERS.map((name) => network.params[name])
    const {value, grads} = tf.variableGrads(() => plainWeightedCrossEntropy(plainTrainingLogits(network, xs), ys, tf.tensor1d(CLASS_WEIGHTS)), params)
    return [value, plainTrainingLogits(network, xs), ...params.map((p) => grads[p.name])]
  })
}

describe('the CNN as our own WebAssembly kernel (kernels/cnn.wasm)', function () {
  let restore: () => Promise<void>
  before(async () => {
    restore = await withBothBackends()
  })
  after(async () => restore())

  for (const [size, why] of [
    [1, 'one image'],
    [6, 'ties in the pooling windows'],
    [9, 'halves of unequal size'],
  ] as const) {
    it(`gives the logits, loss and every gradient of taped plain ops on cpu (batch ${size}: ${why})`, async () => {
      await tf.setBackend('cpu')
      const network = createNetwork('cnn', initialValues('cnn', 5, 3), 3)
      try {
        const {x, y} = images(size)
        const expected = await reference(network, x, y)
        const kernel = loaded(network)
        const logits = kernel.forward(x, size, BN_EPSILON)
        const {loss, dLogits} = weightedSoftmaxLoss(logits, y, CLASS_WEIGHTS)
        kernel.backward(dLogits, size)
        expect(loss).to.be.closeTo(expected[0][0], 1e-5)
        expect(relativeError(logits, expected[1])).to.be.below(1e-5)
        for (const [i, name] of KERNEL_PARAMETERS.entries()) {
          const actual = kernel.slice(kernel.grads, name)
          // Conv biases feed batch norm, which removes them: their true gradient is 0 and both sides give rounding noise.
          if (name.startsWith('conv') && name.endsWith('.bias')) expect(Math.max(...actual.map(Math.abs)), name).to.be.below(1e-5)
          else expect(relativeError(actual, expected[i + 2]), name).to.be.below(TOLERANCE)
        }
      } finally {
        network.dispose()
      }
    })
  }

  it('matches the cpu backend on constant images, where every pooling window is a tie', async () => {
    await tf.setBackend('cpu')
    const network = createNetwork('cnn', initialValues('cnn', 8, 3), 3)
    try {
      const x = new Float32Array(4 * 784)
      x.fill(0.7, 0, 2 * 784).fill(-0.3, 2 * 784)
      const y = Int32Array.of(0, 1, 2, 0)
      const expected = await reference(network, x, y)
      const kernel = loaded(network)
      kernel.backward(weightedSoftmaxLoss(kernel.forward(x, 4, BN_EPSILON), y, CLASS_WEIGHTS).dLogits, 4)
      for (const [i, name] of KERNEL_PARAMETERS.entries()) {
        if (name.startsWith('conv') && name.endsWith('.bias')) continue
        expect(Math.max(...expected[i + 2].map(Math.abs)), name).to.be.above(1e-4)
        expect(relativeError(kernel.slice(kernel.grads, name), expected[i + 2]), name).to.be.below(TOLERANCE)
      }
    } finally {
      network.dispose()
    }
  })

  it('returns each batch norm’s batch mean and biased variance', async () => {
    await tf.setBackend('cpu')
    const network = createNetwork('cnn', initialValues('cnn', 5, 3), 3)
    try {
      const {x, y} = images(4)
      const expected = await on('cpu', () => {
        const z = tf.add(tf.conv2d(tf.tensor4d(x, [4, 28, 28, 1]), network.params['conv1.kernel'] as tf.Tensor4D, 1, 'same'), network.params['conv1.bias'])
        const {mean, variance} = tf.moments(z, [0, 1, 2])
        return [mean, variance]
      })
      const kernel = loaded(network)
      kernel.forward(x, y.length, BN_EPSILON)
      expect(relativeError(kernel.batchStatistics.subarray(0, 16), expected[0])).to.be.below(1e-5)
      expect(relativeError(kernel.batchStatistics.subarray(16, 32), expected[1])).to.be.below(1e-5)
    } finally {
      network.dispose()
    }
  })

  it('gives the evaluation-mode logits of the network on cpu (running statistics), in chunks', async () => {
    await tf.setBackend('cpu')
    const values = initialValues('cnn', 6, 3)
    // Running statistics away from their initial 0 and 1, so a mix-up between them shows.
    values['bn1.movingMean'] = Float32Array.from({length: 16}, (_, i) => 0.05 * (i - 8))
    values['bn1.movingVariance'] = Float32Array.from({length: 16}, (_, i) => 0.5 + 0.1 * i)
    values['bn2.movingMean'] = Float32Array.from({length: 32}, (_, i) => 0.02 * (i - 16))
    values['bn2.movingVariance'] = Float32Array.from({length: 32}, (_, i) => 0.3 + 0.05 * i)
    const network = createNetwork('cnn', values, 3)
    try {
      const {x} = images(70, 44)
      const [expected] = await on('cpu', () => network.logits(tf.tensor4d(x, [70, 28, 28, 1]), false))
      const kernel = loaded(network)
      kernel.running.set([...values['bn1.movingMean'], ...values['bn1.movingVariance'], ...values['bn2.movingMean'], ...values['bn2.movingVariance']])
      expect(relativeError(kernel.infer(x, 70, BN_EPSILON, 32), expected)).to.be.below(1e-5)
    } finally {
      network.dispose()
    }
  })

  it('runs the network’s evaluation-mode logits on wasm through the kernel, as the cpu backend computes them', async () => {
    const values = initialValues('cnn', 7, 3)
    values['bn2.movingVariance'] = Float32Array.from({length: 32}, (_, i) => 0.4 + 0.03 * i)
    const network = createNetwork('cnn', values, 3)
    try {
      const {x} = images(5, 12)
      const [expected] = await on('cpu', () => network.logits(tf.tensor4d(x, [5, 28, 28, 1]), false))
      await tf.setBackend('wasm')
      const xs = tf.tensor4d(x, [5, 28, 28, 1])
      let logits: tf.Tensor | undefined
      const profile = await tf.profile(() => {
        logits = network.logits(xs, false)
      })
      expect(profile.kernels.map((k) => k.name)).to.not.include('FusedConv2D')
      expect(relativeError(Float32Array.from(logits!.dataSync()), expected)).to.be.below(1e-5)
      tf.dispose([xs, logits!])
    } finally {
      network.dispose()
    }
  })

  it("updates with Adam bit-identically to tfjs's AdamOptimizer on cpu (values and moments, three steps)", async () => {
    await tf.setBackend('cpu')
    const network = createNetwork('cnn', initialValues('cnn', 4, 3), 3)
    const optimizer = tf.train.adam(3e-3)
    try {
      const kernel = loaded(network)
      const variables = KERNEL_PARAMETERS.map((name) => network.params[name])
      for (let step = 1; step <= 3; step++) {
        const gradients = variables.map((v, i) => tf.mul(seeded(v.shape, 100 * step + i), step))
        for (const [i, name] of KERNEL_PARAMETERS.entries()) kernel.slice(kernel.grads, name).set(gradients[i].dataSync())
        // β^t as tfjs accumulates it (float32 products, step by step).
        const powers = optimizer as unknown as {accBeta1: tf.Variable; accBeta2: tf.Variable}
        const [correction1, correction2] = [1 - powers.accBeta1.dataSync()[0], 1 - powers.accBeta2.dataSync()[0]]
        kernel.adam({learningRate: 3e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, correction1, correction2})
        optimizer.applyGradients(variables.map((v, i) => ({name: v.name, tensor: gradients[i]})))
        tf.dispose(gradients)
      }

      for (const [i, name] of KERNEL_PARAMETERS.entries()) expect([...kernel.slice(kernel.params, name)], name).to.deep.equal([...variables[i].dataSync()])
    } finally {
      network.dispose()
      optimizer.dispose()
    }
  })

  it('trains as the taped step does on cpu: weights and running statistics after three steps, through trainStep on wasm', async () => {
    preferWasmStepEngine('kernel')
    const trained = async (backend: 'cpu' | 'wasm') => {
      await tf.setBackend(backend)
      const network = createNetwork('cnn', initialValues('cnn', 9, 3), 3)
      const optimizer = tf.train.adam(1e-3)
      const {x, y} = images(4)
      const xs = tf.tensor4d(x, [4, 28, 28, 1])
      const ys = tf.tensor1d(y, 'int32')
      const w = tf.tensor1d(CLASS_WEIGHTS)
      const step = backend === 'wasm' ? trainStep : tapedTrainStep
      if (backend === 'wasm') expect(wasmStepEngine()).to.equal('kernel')
      const before = tf.memory().numTensors
      for (let i = 0; i < 3; i++) tf.dispose(Object.values(step(network, optimizer, xs, ys, w)))
      if (backend === 'wasm') expect(tf.memory().numTensors - before, 'tensors left by three steps (Adam creates 20 slots once)').to.equal(20)
      const values = Object.fromEntries(Object.entries({...network.params, ...network.buffers}).map(([name, v]) => [name, Float32Array.from(v.dataSync())] as const))
      const iterations = (optimizer as unknown as {iterations: number}).iterations
      tf.dispose([xs, ys, w])
      network.dispose()
      optimizer.dispose()
      return {values, iterations}
    }

    const cpu = await trained('cpu')
    const wasm = await trained('wasm')
    expect(wasm.iterations).to.equal(3).and.equal(cpu.iterations)
    for (const name of Object.keys(cpu.values)) {
      // Adam moves the conv biases by ±lr a step on their rounding-noise gradient, and the running means follow (×0.1 a step).
      if (name.startsWith('conv') && name.endsWith('.bias')) continue
      if (name.endsWith('movingMean')) for (const [i, v] of wasm.values[name].entries()) expect(v, name).to.be.closeTo(cpu.values[name][i], 1e-3)
      else expect(relativeError(wasm.values[name], cpu.values[name]), name).to.be.below(TOLERANCE)
    }
  })

  it('gives the same gradient bits on two threads (main + worker instance, one half each) as one instance alone', async () => {
    await tf.setBackend('cpu')
    const network = createNetwork('cnn', initialValues('cnn', 13, 3), 3)
    const parallel = new ParallelStep(loaded(network), kernelModule()!, 64)
    try {
      for (const size of [32, 7]) {
        const {x, y} = images(size, 70 + size)
        const weightSum = batchWeight(y, CLASS_WEIGHTS)
        const lossOf = (kernel: CnnKernel) => ([b0, b1]: [number, number]) => kernel.setDLogits(weightedSoftmaxLoss(kernel.logits(b0, b1), y.subarray(b0, b1), CLASS_WEIGHTS, weightSum).dLogits, b0)
        const alone = loaded(network)
        alone.forward(x, size, BN_EPSILON)
        for (const side of halves(size)) lossOf(alone)(side)
        alone.backwardFromSet(size)

        const main = (parallel as unknown as {kernel: CnnKernel}).kernel
        parallel.gradients(x, y, CLASS_WEIGHTS, weightSum, BN_EPSILON, lossOf(main))
        expect([...main.grads], `batch ${size}`).to.deep.equal([...alone.grads])
        expect([...main.batchStatistics]).to.deep.equal([...alone.batchStatistics])
      }
    } finally {
      parallel.dispose()
      network.dispose()
    }
  })

  it('trains bit-identically run after run, on one and on two threads', async function () {
    this.timeout(120_000)
    const outputs = []
    for (const threads of [1, 1, 2]) outputs.push(await trainInFreshProcess(threads, 'kernel'))
    expect(outputs[0].engine).to.equal('kernel')
    expect(outputs[0].weights).to.match(/^[0-9a-f]{64}$/)
    expect(outputs[0].threads).to.equal(1)
    expect(outputs[1]).to.deep.equal(outputs[0])
    // Two threads where the machine has two cores (the backend caps threads at the cores).
    expect(outputs[2]).to.deep.equal({...outputs[0], threads: Math.min(2, availableParallelism())})
  })

  it('is the build of kernels/cnn.c recorded in kernels/cnn.build.json (and compiles to the same bytes where clang-19 is installed)', function () {
    const record = JSON.parse(readFileSync(join(KERNELS, 'cnn.build.json'), 'utf8')) as {source: string; wasm: string}
    expect(sha256(readFileSync(join(KERNELS, 'cnn.c'))), 'cnn.c changed since the last npm run build:kernels').to.equal(record.source)
    expect(sha256(readFileSync(join(KERNELS, 'cnn.wasm'))), 'cnn.wasm is not the recorded build').to.equal(record.wasm)
    try {
      execFileSync(CLANG, ['--version'], {stdio: 'ignore'})
    } catch {
      this.skip()
    }

    const out = mkdtempSync(join(tmpdir(), 'kernels-'))
    try {
      expect(buildKernels(out).wasm).to.equal(record.wasm)
    } finally {
      rmSync(out, {recursive: true, force: true})
    }
  })
})
