import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import {fileURLToPath} from 'node:url'

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

  it('does not keep a process alive once idle', () => {
    const render = fileURLToPath(new URL('../../src/artifacts/render.ts', import.meta.url))
    const code = `import {startRenderWorker} from ${JSON.stringify(render)}; startRenderWorker()`
    const result = spawnSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', code], {timeout: 20_000})
    expect(result.signal, 'the process had to be killed').to.equal(null)
    expect(result.status).to.equal(0)
  })
})
