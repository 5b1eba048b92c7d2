import {expect} from 'chai'

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
})
