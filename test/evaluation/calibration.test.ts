import {expect} from 'chai'

import {Rng} from '../../src/data/rng.js'
import {ECE_BINS, expectedCalibrationError, fitTemperature, nllWithTemperature, reliability, softmaxWithTemperature} from '../../src/evaluation/calibration.js'
import {argmaxRow} from '../../src/model/probabilities.js'

/** Logits of a model that is right as often as its probabilities say, then made `overconfidence` times sharper. */
function overconfident(n: number, overconfidence: number, seed = 5): {logits: Float32Array; labels: Int32Array} {
  const rng = new Rng(seed)
  const logits = new Float32Array(n * 3)
  const labels = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const z = [0, 1, 2].map(() => rng.uniform(-2, 2))
    const p = softmaxWithTemperature(z, 1, 3)
    const u = rng.next()
    labels[i] = u < p[0] ? 0 : u < p[0] + p[1] ? 1 : 2
    for (let c = 0; c < 3; c++) logits[i * 3 + c] = z[c] * overconfidence
  }

  return {logits, labels}
}

describe('calibration', () => {
  it('computes ECE with 15 equal-width bins as worked out by hand', () => {
    const probs = [0.9, 0.05, 0.05, 0.1, 0.85, 0.05, 0.19, 0.19, 0.62, 0.88, 0.06, 0.06]
    const labels = [0, 0, 2, 2]
    // Bin 13 (0.867, 0.933]: 0.9 right, 0.88 wrong → |0.5 − 0.89| · 2/4 = 0.195
    // Bin 12 (0.8, 0.867]: 0.85 wrong → 0.85 · 1/4 = 0.2125
    // Bin 9 (0.6, 0.667]: 0.62 right → 0.38 · 1/4 = 0.095
    expect(expectedCalibrationError(probs, labels, 3)).to.be.closeTo(0.5025, 1e-12)
    const r = reliability(probs, labels, 3)
    expect(r.bins).to.have.length(ECE_BINS)
    expect(r.bins.map((b) => b.count)).to.deep.equal([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 0])
    expect(r.bins[13].accuracy).to.equal(0.5)
    expect(r.bins[13].confidence).to.be.closeTo(0.89, 1e-12)
    expect(r.bins[0].accuracy).to.equal(null)
    // A confidence of exactly 1 belongs to the last bin, (14/15, 1].
    expect(reliability([1, 0, 0], [0], 3).bins[14].count).to.equal(1)
    expect(expectedCalibrationError([1, 0, 0], [0], 3)).to.equal(0)
  })

  it('fits the temperature that undoes overconfidence, lowers the NLL and leaves every argmax unchanged', () => {
    const {logits, labels} = overconfident(4000, 3)
    const t = fitTemperature(logits, labels, 3)
    expect(t).to.be.within(2.7, 3.3)
    expect(nllWithTemperature(logits, labels, t, 3)).to.be.lessThan(nllWithTemperature(logits, labels, 1, 3) * 0.9)
    const before = softmaxWithTemperature(logits, 1, 3)
    const after = softmaxWithTemperature(logits, t, 3)
    for (let i = 0; i < labels.length; i++) expect(argmaxRow(after, i, 3)).to.equal(argmaxRow(before, i, 3))
    expect(expectedCalibrationError(after, labels, 3)).to.be.lessThan(expectedCalibrationError(before, labels, 3) / 3)
  })

  it('sharpens an underconfident model (T < 1) and keeps T = 1 when nothing can be gained', () => {
    const {logits, labels} = overconfident(4000, 0.5, 9)
    expect(fitTemperature(logits, labels, 3)).to.be.within(0.45, 0.55)
    expect(fitTemperature(new Float32Array(6), Int32Array.from([0, 1]), 3)).to.equal(1)
    expect(fitTemperature(new Float32Array(0), new Int32Array(0), 3)).to.equal(1)
    // Every sample right: the NLL only falls as T → 0, so there is no temperature to fit.
    const separable = Float32Array.from([3, 0, 0, 0, 2, 1, 0.5, 0, 4])
    expect(fitTemperature(separable, Int32Array.from([0, 1, 2]), 3)).to.equal(1)
  })

  it('scales logits without overflow for very confident rows', () => {
    const p = softmaxWithTemperature([1000, 0, -1000], 0.5, 3)
    expect(Array.from(p)).to.deep.equal([1, 0, 0])
    expect(nllWithTemperature([1000, 0, -1000], [1], 1, 3)).to.equal(1000)
  })
})
