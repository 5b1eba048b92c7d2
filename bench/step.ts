/**
 * Time one training step of a network (batch 32: forward, backward, Adam
 * update) on each engine and print the median ms/step plus the top kernels (or
 * the kernel's phases) of one step.
 *
 *   npx tsx bench/step.ts [--network cnn|wide] [--classes 3] [--steps 30] [--batch 32] [--threads 1] [--cpu-steps 2] [--json]
 *
 * Engines, in this order:
 *   kernel       our own WebAssembly module, kernels/cnn.wasm: forward, backward
 *                and Adam with relaxed SIMD (what `train` runs on wasm)
 *   cpu          pure JavaScript, fused network, taped (what `train` runs on cpu,
 *                and where relaxed SIMD is missing)
 * Random (seeded) inputs: the timing does not depend on the pixel values.
 * Besides wall time per step, the process's CPU time per step: on a machine
 * shared with other work it is the steadier of the two.
 */
import * as tf from '@tensorflow/tfjs-core'

import {selectBackend} from '../src/engine/backend.js'
import {loadCnnKernel, weightedSoftmaxLoss} from '../src/engine/cnn-kernel.js'
import {trainingThreads} from '../src/engine/cnn-step.js'
import {type NetworkDescription, type NetworkPreset, createNetwork, describeNetwork, initialValues, type Network} from '../src/model/network.js'
import {tapedTrainStep, trainStep} from '../src/model/step.js'
import {Rng} from '../src/data/rng.js'

interface Options {
  network: NetworkPreset
  classes: number
  steps: number
  batch: number
  threads: number
  cpuSteps: number
  json: boolean
}

function parseArgs(argv: string[]): Options {
  const options: Options = {network: 'cnn', classes: 3, steps: 30, batch: 32, threads: 1, cpuSteps: 2, json: false}
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    if (flag === '--json') options.json = true
    else if (flag === '--network') options.network = argv[++i] as NetworkPreset
    else if (flag === '--classes') options.classes = Number(argv[++i])
    else if (flag === '--steps') options.steps = Number(argv[++i])
    else if (flag === '--batch') options.batch = Number(argv[++i])
    else if (flag === '--threads') options.threads = Number(argv[++i])
    else if (flag === '--cpu-steps') options.cpuSteps = Number(argv[++i])
    else throw new Error(`unknown flag ${flag}`)
  }

  return options
}

type StepFn = (network: Network, optimizer: tf.Optimizer, x: tf.Tensor4D, y: tf.Tensor1D, w: tf.Tensor1D) => tf.Scalar

const fusedStep: StepFn = (network, optimizer, x, y, w) => {
  const {loss, correct} = tapedTrainStep(network, optimizer, x, y, w)
  correct.dispose()
  return loss
}

const kernelStep: StepFn = (network, optimizer, x, y, w) => {
  const {loss, correct} = trainStep(network, optimizer, x, y, w, {dropoutSeed: 1})
  correct.dispose()
  return loss
}

interface Result {
  engine: string
  backend: string
  threads: number
  msPerStep: number
  cpuMsPerStep: number
  profile: {kernel: string; ms: number; calls: number}[]
}

async function measure(net: NetworkDescription, engine: string, threads: number, step: StepFn, steps: number, batch: number): Promise<Result> {
  const rng = new Rng(7)
  const k = net.dense.units
  const xData = new Float32Array(batch * 784).map(() => rng.uniform(-1, 2))
  const yData = Int32Array.from({length: batch}, () => rng.int(k))
  const network = createNetwork(net, initialValues(net, 11_122_025))
  const optimizer = tf.train.adam(1e-3)
  const x = tf.tensor4d(xData, [batch, 28, 28, 1])
  const y = tf.tensor1d(yData, 'int32')
  const w = tf.tensor1d(Array.from({length: k}, (_, i) => 0.5 + i / k))
  const once = () => {
    const loss = step(network, optimizer, x, y, w)
    loss.dataSync()
    loss.dispose()
  }

  once() // warm-up: kernel set-up, JIT
  once()
  // The median step: a shared machine's load spikes hit single steps, not the typical one.
  const times: number[] = []
  const cpu = process.cpuUsage()
  for (let i = 0; i < steps; i++) {
    const start = performance.now()
    once()
    times.push(performance.now() - start)
  }

  const used = process.cpuUsage(cpu)
  const cpuMsPerStep = (used.user + used.system) / 1000 / steps
  const msPerStep = times.sort((a, b) => a - b)[Math.floor(steps / 2)]

  const info = await tf.profile(once)
  const byKernel = new Map<string, {ms: number; calls: number}>()
  for (const k of info.kernels) {
    const entry = byKernel.get(k.name) ?? {ms: 0, calls: 0}
    entry.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0
    entry.calls += 1
    byKernel.set(k.name, entry)
  }

  const profile = [...byKernel.entries()].map(([kernel, v]) => ({kernel, ...v})).sort((a, b) => b.ms - a.ms)
  tf.dispose([x, y, w])
  network.dispose()
  optimizer.dispose()
  return {engine, backend: tf.getBackend(), threads, msPerStep, cpuMsPerStep, profile}
}

/** The kernel's phases (kernels/cnn.c, cnn_phase), in order, with the host's loss between forward and backward. */
const KERNEL_PHASES = [
  'conv1, per-image sums',
  'batch mean 1, centred squares',
  'batch norm 1, ReLU, pool, conv2',
  'batch mean 2, centred squares',
  'batch norm 2, ReLU, pool, dense layers',
  'dense layers backward, routed sums 2',
  'block 2 backward, conv2 gradients',
  'block 1 backward, conv1 gradients',
]

/** Our kernel's phases, called directly: median ms of each over `steps` steps. */
function kernelPhases(net: NetworkDescription, steps: number, batch: number): Result['profile'] {
  const kernel = loadCnnKernel(net)
  if (!kernel) return []
  const rng = new Rng(7)
  const k = net.dense.units
  const x = new Float32Array(batch * 784).map(() => rng.uniform(-1, 2))
  const y = Int32Array.from({length: batch}, () => rng.int(k))
  kernel.params.set(kernel.params.map(() => rng.uniform(-0.1, 0.1)))
  kernel.reserve(batch)
  if (kernel.hiddenUnits > 0)
    kernel.setDropoutMask(
      new Float32Array(batch * kernel.hiddenUnits).map(() => (rng.uniform(0, 1) < 0.5 ? 0 : 2)),
      0,
    )
  const names = [...KERNEL_PHASES.slice(0, 5), 'loss (host)', ...KERNEL_PHASES.slice(5), 'halves added, Adam']
  const times: number[][] = names.map(() => [])
  for (let i = 0; i < steps + 2; i++) {
    const marks = [performance.now()]
    kernel.setInput(x, 0, batch, batch)
    for (let phase = 0; phase < 5; phase++) {
      kernel.phase(phase, 0, batch, batch, 1e-5)
      marks.push(performance.now())
    }

    const {dLogits} = weightedSoftmaxLoss(
      kernel.logits(0, batch),
      y,
      Array.from({length: k}, () => 1),
    )
    kernel.setDLogits(dLogits, 0)
    marks.push(performance.now())
    for (let phase = 5; phase < 8; phase++) {
      kernel.phase(phase, 0, batch, batch, 0)
      marks.push(performance.now())
    }

    kernel.combine()
    kernel.adam({learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, correction1: 0.1, correction2: 0.001})
    marks.push(performance.now())
    if (i < 2) continue
    for (const [j, list] of times.entries()) list.push(marks[j + 1] - marks[j])
  }

  return names.map((name, j) => ({kernel: name, ms: times[j].sort((a, b) => a - b)[Math.floor(times[j].length / 2)], calls: 1}))
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2))
  const results: Result[] = []
  const net = describeNetwork(options.network, options.classes)
  await selectBackend('wasm', {threads: options.threads, training: true, model: options.network})
  const kernelResult = await measure(net, 'kernel', 1, kernelStep, options.steps, options.batch)
  kernelResult.threads = trainingThreads()
  // Phases of the one-instance step (on two threads each phase runs on half the images, plus the exchanges).
  kernelResult.profile = kernelPhases(net, options.steps, options.batch)
  results.push(kernelResult)
  if (options.cpuSteps > 0) {
    await selectBackend('cpu', {training: true})
    results.push(await measure(net, 'cpu', 1, fusedStep, options.cpuSteps, options.batch))
  }

  if (options.json) {
    process.stdout.write(`${JSON.stringify(results.map((r) => ({...r, profile: r.profile.slice(0, 10)})))}\n`)
    return
  }

  const base = results.find((r) => r.engine === 'kernel')!
  for (const r of results) {
    process.stdout.write(
      `${r.engine.padEnd(13)} ${r.msPerStep.toFixed(1).padStart(8)} ms/step  ${r.cpuMsPerStep.toFixed(1).padStart(8)} ms CPU/step  (${(r.msPerStep / base.msPerStep).toFixed(2)}× kernel wall, ${(r.cpuMsPerStep / base.cpuMsPerStep).toFixed(2)}× CPU; ${r.threads} thread${r.threads === 1 ? '' : 's'})\n`,
    )
  }

  for (const r of results) {
    const total = r.profile.reduce((sum, k) => sum + k.ms, 0)
    process.stdout.write(`\n${r.engine}: ${r.engine === 'kernel' ? 'phases' : 'kernels'} of one step (median), ${total.toFixed(1)} ms in all\n`)
    for (const k of r.profile.slice(0, 10))
      process.stdout.write(`  ${k.kernel.padEnd(24)} ${k.ms.toFixed(2).padStart(8)} ms  ${String(k.calls).padStart(4)} calls\n`)
  }
}

await main()
