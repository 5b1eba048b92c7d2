/**
 * Time per training epoch of each network on our kernel against PyTorch's bare
 * loop (bench/pytorch_epoch.py: the same network, batch 32, Adam 1e-3), in the
 * same run, interleaved (ours, PyTorch, for each network and thread count,
 * then again), medians printed with the load average.
 *
 *   npx tsx bench/epoch.ts [--threads 1,2] [--repeat 2] [--epochs 2] [--cases 1,4]
 *
 * Networks: the SPEC's (cnn, three classes) and `wide` over 3,400 images (the
 * SPEC subset's training split), the SPEC's and `wide` with a 10-way head over
 * 10,000 (`wide` is the default network for all ten digits).
 * The steps only (no validation, checkpoint or data loading); seeded random
 * images, as the time of a step does not depend on the pixel values.
 */
import {spawnSync} from 'node:child_process'
import {availableParallelism, loadavg} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'

import * as tf from '@tensorflow/tfjs-core'

import {Rng} from '../src/data/rng.js'
import {selectBackend} from '../src/engine/backend.js'
import {type NetworkPreset, createNetwork, describeNetwork, initialValues} from '../src/model/network.js'
import {trainStep} from '../src/model/step.js'
import {median, torchPython, torchVersion} from './common.js'

const {values: args} = parseArgs({
  options: {
    threads: {type: 'string', default: '1,2'},
    repeat: {type: 'string', default: '2'},
    epochs: {type: 'string', default: '2'},
    cases: {type: 'string', description: 'comma-separated case numbers (1-based) to run; all by default'},
    child: {type: 'string'},
  },
})

const CASES = [
  {name: 'SPEC', preset: 'cnn', classes: 3, images: 3400},
  {name: 'wide', preset: 'wide', classes: 3, images: 3400},
  {name: 'SPEC, 10-way head', preset: 'cnn', classes: 10, images: 10_000},
  {name: 'wide, 10-way head (the ten-digit default)', preset: 'wide', classes: 10, images: 10_000},
] as const

/** In a child process: our epochs of one case on `threads`, as JSON seconds (the first epoch a warm-up). */
async function child(spec: string): Promise<void> {
  const [preset, classes, images, threads, epochs] = spec.split(',')
  const net = describeNetwork(preset as NetworkPreset, Number(classes))
  await selectBackend('wasm', {threads: Number(threads), training: true, model: net.preset})
  const n = Number(images)
  const rng = new Rng(1)
  const x = new Float32Array(n * 784).map(() => rng.uniform(-0.4, 2.8))
  const y = Int32Array.from({length: n}, () => rng.int(net.dense.units))
  const network = createNetwork(net, initialValues(net, 1))
  const optimizer = tf.train.adam(1e-3)
  const w = tf.ones([net.dense.units]) as tf.Tensor1D
  const seconds: number[] = []
  for (let epoch = 0; epoch <= Number(epochs); epoch++) {
    const started = performance.now()
    for (let start = 0; start < n; start += 32) {
      const end = Math.min(n, start + 32)
      const xs = tf.tensor4d(x.subarray(start * 784, end * 784), [end - start, 28, 28, 1])
      const ys = tf.tensor1d(y.subarray(start, end), 'int32')
      const {loss, correct} = trainStep(network, optimizer, xs, ys, w, {dropoutSeed: 1})
      loss.dataSync()
      tf.dispose([xs, ys, loss, correct])
    }

    if (epoch > 0) seconds.push((performance.now() - started) / 1000)
  }

  process.stdout.write(`${JSON.stringify({epoch_seconds: seconds})}\n`)
}

function lastJson(stdout: string): {epoch_seconds: number[]} {
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {epoch_seconds: number[]}
}

async function main(): Promise<void> {
  const threads = args.threads.split(',').map(Number)
  const repeat = Number(args.repeat)
  const epochs = Number(args.epochs)
  const python = torchPython()
  if (!python) throw new Error('bench/epoch.ts needs python3 with torch (Debian: apt-get install python3-torch)')
  const cases = args.cases === undefined ? CASES : args.cases.split(',').map((n) => CASES[Number(n) - 1])
  if (cases.some((c) => c === undefined)) throw new Error(`--cases takes numbers from 1 to ${CASES.length}`)
  const loadBefore = loadavg()[0]
  const samples = new Map<string, {ours: number[]; torch: number[]}>()
  for (let r = 0; r < repeat; r++) {
    for (const c of cases) {
      for (const t of threads) {
        const key = `${c.name}|${t}`
        const s = samples.get(key) ?? {ours: [], torch: []}
        samples.set(key, s)
        const ours = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', [c.preset, c.classes, c.images, t, epochs].join(',')], {
          encoding: 'utf8',
        })
        if (ours.status !== 0) throw new Error(`ours failed: ${ours.stderr.trim().split('\n').at(-1)}`)
        s.ours.push(median(lastJson(ours.stdout).epoch_seconds))
        const net = describeNetwork(c.preset, c.classes)
        const shape = [net.blocks[0].filters, net.blocks[1].filters, net.hidden?.units ?? 0, c.classes, c.images, t, epochs]
        const theirs = spawnSync(python, [join(import.meta.dirname, 'pytorch_epoch.py'), ...shape.map(String)], {encoding: 'utf8', cwd: import.meta.dirname})
        if (theirs.status !== 0) throw new Error(`pytorch failed: ${theirs.stderr.trim().split('\n').at(-1)}`)
        s.torch.push(median(lastJson(theirs.stdout).epoch_seconds))
        process.stderr.write(
          `run ${r + 1}/${repeat} ${c.name}, ${t} thread(s): ours ${s.ours.at(-1)!.toFixed(3)} s, PyTorch ${s.torch.at(-1)!.toFixed(3)} s (load ${loadavg()[0].toFixed(1)})\n`,
        )
      }
    }
  }

  const lines = [
    `ours: node ${process.version}, kernels/cnn.wasm; PyTorch ${torchVersion(python)}; batch 32, Adam; medians of ${repeat} interleaved run(s), ${epochs} epoch(s) each after a warm-up`,
    `machine: ${availableParallelism()} cores, load average ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after`,
    '',
    '| network | images | threads | ours s/epoch | PyTorch s/epoch | ratio (all runs) |',
    '| --- | --- | --- | --- | --- | --- |',
  ]
  for (const c of cases) {
    for (const t of threads) {
      const s = samples.get(`${c.name}|${t}`)!
      const ratios = s.ours.map((v, i) => v / s.torch[i])
      lines.push(
        `| ${c.name} | ${c.images} | ${t} | ${median(s.ours).toFixed(3)} | ${median(s.torch).toFixed(3)} | ${(median(s.ours) / median(s.torch)).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}) |`,
      )
    }
  }

  process.stdout.write(`${lines.join('\n')}\n`)
}

if (args.child) await child(args.child)
else await main()
