import {expect} from 'chai'

import {ReliabilitySchema, buildReliability, plotReliability} from '../../src/artifacts/reliability.js'
import {softmaxWithTemperature} from '../../src/evaluation/calibration.js'
import {decodePng, isInk} from './png.js'

describe('reliability diagram', () => {
  it('documents both curves and renders them with the diagonal and a title', async () => {
    const logits = Float32Array.from([4, 0, 0, 0, 3, 1, 2, 2.5, 0, 0, 0, 5, 1, 0, 0.5])
    const labels = [0, 1, 0, 2, 2]
    const doc = buildReliability('eval', labels, softmaxWithTemperature(logits, 1, 3), softmaxWithTemperature(logits, 2, 3), 2)
    expect(ReliabilitySchema.parse(doc)).to.deep.equal(doc)
    expect(doc.before.bins.reduce((s, b) => s + b.count, 0)).to.equal(5)
    expect(doc.after.ece).to.not.equal(doc.before.ece)
    const png = await decodePng(await plotReliability(doc))
    expect(png.width).to.be.greaterThan(600)
    expect(png.colours).to.be.greaterThan(50)
    expect(png.count(isInk, {y1: 0.08})).to.be.greaterThan(300)
    // Orange (before) and blue (after) series are both drawn.
    expect(png.count(({r, g, b}) => r > 220 && g > 100 && g < 160 && b < 60)).to.be.greaterThan(50)
    expect(png.count(({r, g, b}) => r < 60 && g > 100 && g < 140 && b > 160)).to.be.greaterThan(50)
  })
})
