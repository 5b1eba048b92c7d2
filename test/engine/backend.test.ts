import {execFile} from 'node:child_process'
import {mkdtemp, mkdir, rm, writeFile} from 'node:fs/promises'
import {availableParallelism, tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

import {expect} from 'chai'
import * as tf from '@tensorflow/tfjs-core'

import {loadNative, selectBackend} from '../../src/engine/backend.js'
import {expectUserRejection} from '../helpers/assert.js'

const run = promisify(execFile)

describe('backend selection', function () {
  let previous: string
  before(() => {
    previous = tf.getBackend()
  })
  after(async () => {
    if (previous && previous !== tf.getBackend()) await tf.setBackend(previous)
  })

  it('treats a half-installed native package (binding missing) as absent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tfjs-node-'))
    try {
      // What an install whose libtensorflow download failed leaves: the JavaScript, not the compiled binding.
      await mkdir(join(dir, 'lib'), {recursive: true})
      await writeFile(join(dir, 'package.json'), JSON.stringify({name: '@tensorflow/tfjs-node', main: 'index.js'}))
      await writeFile(join(dir, 'index.js'), "module.exports = require('./lib/napi-v8/tfjs_binding.node')\n")
      const result = await loadNative(join(dir, 'index.js'))
      expect(result.ok).to.equal(false)
      expect(result.ok ? '' : result.reason).to.match(/installed but does not load/)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })

  it("'node' without the native package is a one-line error saying how to install it", async function () {
    if ((await loadNative()).ok) this.skip()
    await expectUserRejection(selectBackend('node'), /npm install @tensorflow\/tfjs-node.*--backend wasm/)
  })

  it("'auto' falls back to wasm when native TensorFlow is unavailable", async function () {
    if ((await loadNative()).ok) this.skip()
    const selected = await selectBackend('auto')
    expect(selected.name).to.equal('wasm')
    expect(tf.getBackend()).to.equal('wasm')
    expect(selected.threads).to.be.at.least(1)
  })

  it('rejects a thread count that is not a positive whole number', async () => {
    await expectUserRejection(selectBackend('wasm', {threads: 0}), /at least 1/)
  })

  it('cpu reports one thread and computes', async () => {
    const selected = await selectBackend('cpu')
    expect(selected).to.deep.equal({name: 'cpu', threads: 1})
    expect(tf.getBackend()).to.equal('cpu')
  })

  it('runs wasm on two XNNPACK threads, with results equal to one thread, and lets the process exit', async function () {
    this.timeout(60_000)
    // A fresh process: the wasm backend is created once per process.
    const script = `
      import * as tf from '@tensorflow/tfjs-core'
      import {selectBackend} from './src/engine/backend.ts'
      const threads = Number(process.argv.at(-1))
      const selected = await selectBackend('wasm', {threads, training: true})
      const x = tf.randomUniform([8, 14, 14, 16], -1, 1, 'float32', 1)
      const w = tf.randomUniform([3, 3, 16, 32], -1, 1, 'float32', 2)
      const y = tf.conv2d(x, w, 1, 'same')
      // The wasm backend has no convolution filter gradient (a CNN trains on our kernel): a dense layer's instead.
      const g = tf.grad((f) => tf.sum(tf.square(tf.matMul(tf.reshape(x, [8, -1]), f))))(tf.randomUniform([3136, 4], -1, 1, 'float32', 3))
      process.stdout.write(JSON.stringify({selected, sum: tf.sum(y).dataSync()[0], grad: Array.from(g.dataSync().slice(0, 8))}))
    `
    const outputs = []
    for (const threads of [1, 2]) {
      const {stdout} = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, String(threads)], {
        cwd: process.cwd(),
        timeout: 50_000,
      })
      outputs.push(JSON.parse(stdout) as {selected: {name: string; threads: number}; sum: number; grad: number[]})
    }

    expect(outputs[0].selected).to.deep.equal({name: 'wasm', threads: 1})
    expect(outputs[1].selected).to.deep.equal({name: 'wasm', threads: 2})
    expect(outputs[1].sum).to.be.closeTo(outputs[0].sum, 1e-2)
    for (const [i, g] of outputs[1].grad.entries()) expect(g).to.be.closeTo(outputs[0].grad[i], Math.abs(outputs[0].grad[i]) * 1e-5 + 1e-3)
  })

  it('loads neither tfjs gradients nor XNNPACK threads when our kernel trains the CNN, and counts the kernel’s threads', async function () {
    this.timeout(60_000)
    const script = `
      import {createRequire} from 'node:module'
      import {selectBackend} from './src/engine/backend.ts'
      const require = createRequire(process.cwd() + '/')
      const selected = await selectBackend('wasm', {threads: 2, training: true, model: 'cnn'})
      const layers = Object.keys(require.cache).some((file) => file.includes('tfjs-layers'))
      const xnnpack = require('@tensorflow/tfjs-backend-wasm').getThreadsCount()
      process.stdout.write(JSON.stringify({selected, layers, xnnpack}))
    `
    const {stdout} = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {cwd: process.cwd(), timeout: 50_000})
    expect(JSON.parse(stdout)).to.deep.equal({selected: {name: 'wasm', threads: Math.min(2, availableParallelism())}, layers: false, xnnpack: 1})
  })
})
