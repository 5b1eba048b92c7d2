import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'
import {Worker} from 'node:worker_threads'

import {confusionMatrixSpec} from '../../src/artifacts/plots.js'
import {renderHere, renderVegaLite, startRenderWorker} from '../../src/artifacts/render.js'
import {fakePredictions, reportOf} from './run-data.js'

describe('plot renderer thread', function () {
  this.timeout(60_000)

  it('renders on its own thread the same PNG bytes as the main thread, and several plots at once', async () => {
    const spec = confusionMatrixSpec(reportOf(fakePredictions()))
    const here = await renderHere(spec)
    startRenderWorker()
    const [a, b] = await Promise.all([renderVegaLite(spec), renderVegaLite(confusionMatrixSpec(reportOf(fakePredictions().slice(0, 12)), 'Other'))])
    expect(Buffer.compare(a, here)).to.equal(0)
    expect(Buffer.compare(b, here)).to.not.equal(0)
    expect(b.subarray(1, 4).toString('latin1')).to.equal('PNG')
  })

  it("runs the build's one-file bundle in the built package, and draws the same bytes with it", async () => {
    const built = (await import(new URL('../../dist/artifacts/render.js', import.meta.url).href)) as typeof import('../../src/artifacts/render.js')
    expect(built.renderWorkerUrl().pathname).to.match(/dist\/artifacts\/render-worker\.bundle\.js$/)
    const spec = confusionMatrixSpec(reportOf(fakePredictions()))
    // The thread itself, asked as the renderer asks it: a failing bundle must not pass by falling back to this thread.
    const worker = new Worker(built.renderWorkerUrl())
    try {
      const reply = new Promise<{png?: Uint8Array; error?: string}>((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
      })
      worker.postMessage({id: 0, spec})
      const {png, error} = await reply
      expect(error).to.equal(undefined)
      expect(Buffer.compare(Buffer.from(png!), await renderHere(spec))).to.equal(0)
    } finally {
      await worker.terminate()
    }
  })

  it('does not keep a process alive once idle', () => {
    const render = fileURLToPath(new URL('../../src/artifacts/render.ts', import.meta.url))
    const code = `import {startRenderWorker} from ${JSON.stringify(render)}; startRenderWorker()`
    const result = spawnSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', code], {timeout: 20_000})
    expect(result.signal, 'the process had to be killed').to.equal(null)
    expect(result.status).to.equal(0)
  })
})
