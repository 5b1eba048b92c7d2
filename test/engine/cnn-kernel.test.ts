import {execFileSync, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {availableParallelism, tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {expect} from 'chai'
import * as tf from '@tensorflow/tfjs-core'

import {CLANG, KERNELS, buildKernels, sha256} from '../../scripts/build-kernels.js'
import {type CnnKernel, batchWeight, kernelModule, loadCnnKernel, weightedSoftmaxLoss} from '../../src/engine/cnn-kernel.js'
import {ParallelStep, halves, prestartKernelWorker, setSideMask, stopSpareKernelWorker} from '../../src/engine/cnn-parallel.js'
import {stepKernel} from '../../src/engine/cnn-step.js'
import {dropoutMask} from '../../src/engine/dropout.js'
import {plainTrainingLogits, plainWeightedCrossEntropy} from '../../src/engine/reference.js'
import {BN_EPSILON, createNetwork, describeNetwork, initialValues, type Network, type NetworkDescription} from '../../src/model/network.js'
import {tapedTrainStep, trainStep} from '../../src/model/step.js'
import {on, relativeError, seeded, trainInFreshProcess, withBothBackends} from './helpers.js'

/**
 * float32 sums in another order than the cpu backend's, through two batch
 * norms, with fused multiply-adds (one rounding instead of two): relative to
 * the largest value.
 */
const TOLERANCE = 1e-4

const SPEC = describeNetwork('cnn', 3)

/** A shape off the presets: blocks of 8 and 24 filters (the kernel's eight-channel tails, its run-time channel counts) and a small hidden layer. */
const ODD: NetworkDescription = {
  ...describeNetwork('wide', 4),
  blocks: [
    {conv: 'conv1', bn: 'bn1', filters: 8, kernel: 3, pool: 2},
    {conv: 'conv2', bn: 'bn2', filters: 24, kernel: 3, pool: 2},
  ],
  hidden: {name: 'hidden', units: 24, dropout: 0.25},
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  return a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - b[i])), 0)
}

/** Class weights for K classes, all different. */
function classWeights(k: number): number[] {
  return Array.from({length: k}, (_, i) => 0.4 + ((i * 37) % 11) / 4)
}

/** Images whose top half is one constant (MNIST's background): pooling windows hold ties, positive ones included. */
function images(size: number, seed = 31, classes = 3): {x: Float32Array; y: Int32Array} {
  const noise = seeded([size, 28, 28, 1], seed).dataSync()
  const x = Float32Array.from(noise, (v, i) => (i % 784 < 392 ? -0.42 : 1.5 * v))
  return {x, y: Int32Array.from({length: size}, (_, i) => (i * 7) % classes)}
}

function loaded(network: Network): CnnKernel {
  const kernel = loadCnnKernel(network.description)
  if (!kernel) throw new Error('relaxed SIMD is not available: the kernel tests need Node 22 or later')
  for (const name of kernel.parameters) kernel.slice(kernel.params, name).set(network.params[name].dataSync())
  return kernel
}

/** Loss, logits and every parameter's gradient from taped plain ops on cpu. */
async function reference(network: Network, x: Float32Array, y: Int32Array, options: {mask?: Float32Array; offsets?: number[]} = {}): Promise<Float32Array[]> {
  const net = network.description
  const names = Object.keys(network.params)
  return on('cpu', () => {
    const xs = tf.tensor4d(x, [y.length, 28, 28, 1])
    const ys = tf.tensor1d(y, 'int32')
    const params = names.map((name) => network.params[name])
    const w = tf.tensor1d(classWeights(net.dense.units))
    const {value, grads} = tf.variableGrads(
      () => plainWeightedCrossEntropy(plainTrainingLogits(net, network, xs, options.mask), ys, w, options.offsets),
      params,
    )
    return [value, plainTrainingLogits(net, network, xs, options.mask), ...params.map((p) => grads[p.name])]
  })
}

/** The kernel's gradients against the reference's (conv biases, which batch norm removes, only near zero). */
function expectGradients(kernel: CnnKernel, expected: Float32Array[]): void {
  for (const [i, name] of kernel.parameters.entries()) {
    const actual = kernel.slice(kernel.grads, name)
    // Conv biases feed batch norm, which removes them: their true gradient is 0 and both sides give rounding noise.
    if (name.startsWith('conv') && name.endsWith('.bias')) expect(Math.max(...actual.map(Math.abs)), name).to.be.below(1e-5)
    else expect(relativeError(actual, expected[i + 2]), name).to.be.below(TOLERANCE)
  }
}

describe('the network description, as the kernel reads it', () => {
  it('gives each preset its parameters in the kernel’s order', () => {
    for (const [preset, k] of [
      ['cnn', 3],
      ['cnn', 10],
      ['wide', 2],
    ] as const) {
      const net = describeNetwork(preset, k)
      const kernel = loadCnnKernel(net)!
      const trainable = Object.keys(initialValues(net, 1)).filter((name) => !name.includes('moving'))
      expect([...kernel.parameters], preset).to.deep.equal(trainable)
      expect(kernel.classes).to.equal(k)
      expect(kernel.hiddenUnits).to.equal(preset === 'wide' ? 128 : 0)
    }
  })

  it('refuses the softmax baseline and shapes outside its range', () => {
    expect(loadCnnKernel(describeNetwork('softmax', 3))).to.equal(undefined)
    expect(loadCnnKernel({...SPEC, blocks: [SPEC.blocks[0], {...SPEC.blocks[1], filters: 36}]})).to.equal(undefined)
    expect(() => describeNetwork('cnn', 11)).to.throw(RangeError)
    expect(() => describeNetwork('cnn', 1)).to.throw(RangeError)
  })
})

describe('the CNNs as our own WebAssembly kernel (kernels/cnn.wasm)', function () {
  // The tfjs cpu backend's convolution gradients, the reference here, take up to 85 s a test on a slow 2-core machine.
  this.timeout(600_000)
  let restore: () => Promise<void>
  before(async () => {
    restore = await withBothBackends()
  })
  after(async () => restore())

  const cases: Array<{net: NetworkDescription; size: number; why: string; dropout?: boolean; offsets?: boolean}> = [
    {net: SPEC, size: 1, why: 'one image'},
    {net: SPEC, size: 6, why: 'ties in the pooling windows'},
    {net: SPEC, size: 9, why: 'halves of unequal size'},
    {net: describeNetwork('cnn', 2), size: 6, why: 'two classes'},
    {net: describeNetwork('cnn', 10), size: 10, why: 'ten classes'},
    {net: SPEC, size: 6, why: 'logit offsets in the loss', offsets: true},
    {net: describeNetwork('wide', 2), size: 3, why: 'two classes, hidden layer, dropout', dropout: true},
    {net: describeNetwork('wide', 3), size: 3, why: 'three classes, hidden layer, dropout', dropout: true, offsets: true},
    // Without dropout once: the hidden layer's plain ReLU path is the same for every K.
    {net: describeNetwork('wide', 10), size: 5, why: 'ten classes, hidden layer, nothing dropped'},
    {net: describeNetwork('wide', 10), size: 5, why: 'ten classes, hidden layer, dropout', dropout: true},
    {net: ODD, size: 7, why: '8 and 24 filters, 24 hidden units, dropout 0.25', dropout: true},
  ]
  for (const {net, size, why, dropout, offsets: withOffsets} of cases) {
    const k = net.dense.units
    it(`gives the logits, loss and every gradient of taped plain ops on cpu (${net.preset}, K = ${k}, batch ${size}: ${why})`, async () => {
      await tf.setBackend('cpu')
      const network = createNetwork(net, initialValues(net, 5))
      try {
        const {x, y} = images(size, 31, k)
        const units = net.hidden?.units ?? 0
        const mask = dropout ? dropoutMask(net.hidden!.dropout, units, 23, 4, 0, size) : undefined
        if (mask) expect(mask.filter((v) => v === 0).length, 'units dropped').to.be.within(0.15 * mask.length, 0.85 * mask.length)
        const offsets = withOffsets ? Array.from({length: k}, (_, i) => Math.log((i + 1) / ((k * (k + 1)) / 2))) : undefined
        const expected = await reference(network, x, y, {mask, offsets})
        const kernel = loaded(network)
        const logits = kernel.forward(x, size, BN_EPSILON, mask)
        const {loss, dLogits} = weightedSoftmaxLoss(logits, y, classWeights(k), undefined, offsets)
        kernel.backward(dLogits, size)
        expect(loss).to.be.closeTo(expected[0][0], 1e-5)
        expect(relativeError(logits, expected[1])).to.be.below(1e-5)
        expectGradients(kernel, expected)
      } finally {
        network.dispose()
      }
    })
  }

  it('matches the cpu backend on constant images, where every pooling window is a tie', async () => {
    await tf.setBackend('cpu')
    const network = createNetwork(SPEC, initialValues(SPEC, 8))
    try {
      const x = new Float32Array(4 * 784)
      x.fill(0.7, 0, 2 * 784).fill(-0.3, 2 * 784)
      const y = Int32Array.of(0, 1, 2, 0)
      const expected = await reference(network, x, y)
      const kernel = loaded(network)
      kernel.backward(weightedSoftmaxLoss(kernel.forward(x, 4, BN_EPSILON), y, classWeights(3)).dLogits, 4)
      for (const [i, name] of kernel.parameters.entries()) {
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
    for (const net of [SPEC, describeNetwork('wide', 3)]) {
      const network = createNetwork(net, initialValues(net, 5))
      const c1 = net.blocks[0].filters
      try {
        const {x, y} = images(4)
        const expected = await on('cpu', () => {
          const z = tf.add(tf.conv2d(tf.tensor4d(x, [4, 28, 28, 1]), network.params['conv1.kernel'] as tf.Tensor4D, 1, 'same'), network.params['conv1.bias'])
          const {mean, variance} = tf.moments(z, [0, 1, 2])
          return [mean, variance]
        })
        const kernel = loaded(network)
        kernel.forward(x, y.length, BN_EPSILON)
        expect(relativeError(kernel.batchStatistics.subarray(0, c1), expected[0])).to.be.below(1e-5)
        expect(relativeError(kernel.batchStatistics.subarray(c1, 2 * c1), expected[1])).to.be.below(1e-5)
      } finally {
        network.dispose()
      }
    }
  })

  for (const net of [SPEC, describeNetwork('wide', 10), ODD]) {
    it(`gives the evaluation-mode logits of the network on cpu (running statistics, no dropout), in chunks (${net.preset}, K = ${net.dense.units}, ${net.blocks.map((b) => b.filters).join('/')} filters)`, async () => {
      await tf.setBackend('cpu')
      const values = initialValues(net, 6)
      // Running statistics away from their initial 0 and 1, so a mix-up between them shows.
      for (const {bn, filters} of net.blocks) {
        values[`${bn}.movingMean`] = Float32Array.from({length: filters}, (_, i) => 0.05 * (i - filters / 2))
        values[`${bn}.movingVariance`] = Float32Array.from({length: filters}, (_, i) => 0.5 + 0.05 * i)
      }

      const network = createNetwork(net, values)
      try {
        const {x} = images(70, 44)
        const [expected] = await on('cpu', () => network.logits(tf.tensor4d(x, [70, 28, 28, 1]), false))
        const kernel = loaded(network)
        kernel.running.set(net.blocks.flatMap(({bn}) => [...values[`${bn}.movingMean`], ...values[`${bn}.movingVariance`]]))
        expect(relativeError(kernel.infer(x, 70, BN_EPSILON, 32), expected)).to.be.below(1e-5)
      } finally {
        network.dispose()
      }
    })
  }

  it('runs the network’s evaluation-mode logits on wasm through the kernel, as the cpu backend computes them', async () => {
    for (const net of [SPEC, describeNetwork('wide', 10)]) {
      const values = initialValues(net, 7)
      values['bn2.movingVariance'] = Float32Array.from({length: net.blocks[1].filters}, (_, i) => 0.4 + 0.03 * i)
      const network = createNetwork(net, values)
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
        expect(logits!.shape).to.deep.equal([5, net.dense.units])
        expect(relativeError(Float32Array.from(logits!.dataSync()), expected)).to.be.below(1e-5)
        tf.dispose([xs, logits!])
      } finally {
        network.dispose()
      }
    }
  })

  it("updates with Adam bit-identically to tfjs's AdamOptimizer on cpu (values and moments, three steps)", async () => {
    await tf.setBackend('cpu')
    const net = describeNetwork('wide', 3)
    const network = createNetwork(net, initialValues(net, 4))
    const optimizer = tf.train.adam(3e-3)
    try {
      const kernel = loaded(network)
      const variables = kernel.parameters.map((name) => network.params[name])
      for (let step = 1; step <= 3; step++) {
        const gradients = variables.map((v, i) => tf.mul(seeded(v.shape, 100 * step + i), step))
        for (const [i, name] of kernel.parameters.entries()) kernel.slice(kernel.grads, name).set(gradients[i].dataSync())
        // β^t as tfjs accumulates it (float32 products, step by step).
        const powers = optimizer as unknown as {accBeta1: tf.Variable; accBeta2: tf.Variable}
        const [correction1, correction2] = [1 - powers.accBeta1.dataSync()[0], 1 - powers.accBeta2.dataSync()[0]]
        kernel.adam({learningRate: 3e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, correction1, correction2})
        optimizer.applyGradients(variables.map((v, i) => ({name: v.name, tensor: gradients[i]})))
        tf.dispose(gradients)
      }

      for (const [i, name] of kernel.parameters.entries()) expect([...kernel.slice(kernel.params, name)], name).to.deep.equal([...variables[i].dataSync()])
    } finally {
      network.dispose()
      optimizer.dispose()
    }
  })

  for (const net of [SPEC, describeNetwork('wide', 10)]) {
    it(`trains as the taped step does on cpu, same dropout masks and logit offsets: weights and running statistics after three steps, through trainStep on wasm (${net.preset}, K = ${net.dense.units})`, async () => {
      const k = net.dense.units
      const offsets = Array.from({length: k}, (_, i) => -0.3 * i)
      const trained = async (backend: 'cpu' | 'wasm') => {
        await tf.setBackend(backend)
        const network = createNetwork(net, initialValues(net, 9))
        const optimizer = tf.train.adam(1e-3)
        const {x, y} = images(4, 31, k)
        const xs = tf.tensor4d(x, [4, 28, 28, 1])
        const ys = tf.tensor1d(y, 'int32')
        const w = tf.tensor1d(classWeights(k))
        const step = backend === 'wasm' ? trainStep : tapedTrainStep
        if (backend === 'wasm') expect(stepKernel(net), 'the kernel trains on wasm').to.not.equal(undefined)
        const before = tf.memory().numTensors
        const losses: number[] = []
        for (let i = 0; i < 3; i++) {
          const {loss, correct} = step(network, optimizer, xs, ys, w, {dropoutSeed: 5, logitOffsets: offsets})
          losses.push(loss.dataSync()[0])
          tf.dispose([loss, correct])
        }

        const slots = 2 * Object.keys(network.params).length
        if (backend === 'wasm') expect(tf.memory().numTensors - before, `tensors left by three steps (Adam creates ${slots} slots once)`).to.equal(slots)
        const values = Object.fromEntries(
          Object.entries({...network.params, ...network.buffers}).map(([name, v]) => [name, Float32Array.from(v.dataSync())] as const),
        )
        const iterations = optimizer.iterations
        tf.dispose([xs, ys, w])
        network.dispose()
        optimizer.dispose()
        return {values, iterations, losses}
      }

      const cpu = await trained('cpu')
      const wasm = await trained('wasm')
      expect(wasm.iterations).to.equal(3).and.equal(cpu.iterations)
      // The losses see the offsets and the dropout masks: each step's, before its update.
      for (const [i, loss] of wasm.losses.entries()) expect(loss, `loss of step ${i + 1}`).to.be.closeTo(cpu.losses[i], 1e-5 * Math.max(1, cpu.losses[i]))
      for (const name of Object.keys(cpu.values)) {
        // Adam moves the conv biases by ±lr a step on their rounding-noise gradient, and the running means follow (×0.1 a step).
        if (name.startsWith('conv') && name.endsWith('.bias')) continue
        if (name.endsWith('movingMean')) for (const [i, v] of wasm.values[name].entries()) expect(v, name).to.be.closeTo(cpu.values[name][i], 1e-3)
        // Adam's first step is lr·g/(|g| + 1e-7): a gradient of a few 1e-7 moves by a share of lr that rounding shifts, so a bound of a fifth of lr.
        else expect(maxDifference(wasm.values[name], cpu.values[name]), name).to.be.below(2e-4)
      }
    })
  }

  for (const net of [SPEC, describeNetwork('wide', 10), ODD]) {
    it(`gives the same gradient bits on two threads (main + worker instance, one half each) as one instance alone (${net.preset}, K = ${net.dense.units}, ${net.blocks.map((b) => b.filters).join('/')} filters)`, async () => {
      await tf.setBackend('cpu')
      const k = net.dense.units
      const w = classWeights(k)
      const offsets = Array.from({length: k}, (_, i) => 0.1 * i)
      const network = createNetwork(net, initialValues(net, 13))
      // The wide network's step takes a worker started ahead (as a run on two threads does), the others start their own.
      if (net.preset === 'wide') prestartKernelWorker()
      const parallel = new ParallelStep(loaded(network), kernelModule()!, 64, net)
      try {
        for (const size of [32, 7]) {
          const {x, y} = images(size, 70 + size, k)
          const weightSum = batchWeight(y, w)
          const dropout = {seed: 99, step: size}
          const lossOf =
            (kernel: CnnKernel) =>
            ([b0, b1]: [number, number]) =>
              kernel.setDLogits(weightedSoftmaxLoss(kernel.logits(b0, b1), y.subarray(b0, b1), w, weightSum, offsets).dLogits, b0)
          const alone = loaded(network)
          alone.setInput(x, 0, size, size)
          for (const side of halves(size)) setSideMask(alone, dropout, side)
          for (let phase = 0; phase < 5; phase++) alone.phase(phase, 0, size, size, BN_EPSILON)
          for (const side of halves(size)) lossOf(alone)(side)
          alone.backwardFromSet(size)

          const main = parallel.kernel
          parallel.gradients(x, y, {classWeights: w, weightSum, logitOffsets: offsets}, BN_EPSILON, dropout, lossOf(main))
          expect([...main.grads], `batch ${size}`).to.deep.equal([...alone.grads])
          expect([...main.batchStatistics]).to.deep.equal([...alone.batchStatistics])
        }
      } finally {
        parallel.dispose()
        network.dispose()
      }
    })
  }

  it('stops a second thread started ahead that no step took, and a process doing so exits cleanly', async () => {
    prestartKernelWorker()
    await stopSpareKernelWorker()
    const parallel = fileURLToPath(new URL('../../src/engine/cnn-parallel.ts', import.meta.url))
    const code = `import {prestartKernelWorker, stopSpareKernelWorker} from ${JSON.stringify(parallel)}; prestartKernelWorker(); await stopSpareKernelWorker()`
    const result = spawnSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', code], {timeout: 20_000})
    expect(result.signal, 'the process had to be killed').to.equal(null)
    expect(result.status, result.stderr.toString()).to.equal(0)
  })

  for (const net of [SPEC, describeNetwork('wide', 10)]) {
    it(`evaluates on two threads to the same logits, bit for bit, as one instance alone, over rounds and a remainder (${net.preset}, K = ${net.dense.units})`, async () => {
      await tf.setBackend('cpu')
      const network = createNetwork(net, initialValues(net, 17))
      const parallel = new ParallelStep(loaded(network), kernelModule()!, 64, net)
      try {
        const main = parallel.kernel
        // Running statistics other than the initial zeros and ones, so the worker must be sent them.
        main.running.set(Array.from(main.running, (_, i) => 0.05 * (i % 7) + (i % 2)))
        const alone = loaded(network)
        alone.running.set(main.running)
        const {x} = images(301, 5, net.dense.units)
        const together = parallel.infer(x, 301, BN_EPSILON)
        expect(together.length).to.equal(301 * net.dense.units)
        expect([...together]).to.deep.equal([...alone.infer(x, 301, BN_EPSILON)])
        expect(together.some((v) => v !== 0)).to.equal(true)
      } finally {
        parallel.dispose()
        network.dispose()
      }
    })
  }

  it('trains bit-identically run after run, on one and on two threads (cnn with three classes, wide with ten and dropout)', async function () {
    this.timeout(240_000)
    for (const [preset, k] of [
      ['cnn', 3],
      ['wide', 10],
    ] as const) {
      const outputs = []
      for (const threads of [1, 1, 2]) outputs.push(await trainInFreshProcess(threads, preset, k))
      expect(outputs[0].weights).to.match(/^[0-9a-f]{64}$/)
      expect(outputs[0].threads).to.equal(1)
      expect(outputs[1], preset).to.deep.equal(outputs[0])
      // Two threads where the machine has two cores (the backend caps threads at the cores).
      expect(outputs[2], preset).to.deep.equal({...outputs[0], threads: Math.min(2, availableParallelism())})
    }
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
