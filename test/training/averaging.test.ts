import {expect} from 'chai'

import {WeightAverage, averagingDecay} from '../../src/training/averaging.js'

describe('weight averaging (--ema-decay)', () => {
  it('warms up: the decay is (1 + t) / (10 + t) until it reaches the target', () => {
    expect(averagingDecay(0.99, 1)).to.equal(2 / 11)
    expect(averagingDecay(0.99, 80)).to.equal(81 / 90)
    expect(averagingDecay(0.99, 10_000)).to.equal(0.99)
  })

  it('averages every value by hand-computed steps, and leaves the values it started from untouched', () => {
    const initial = {w: Float32Array.of(0, 10), b: Float32Array.of(1)}
    const average = new WeightAverage(0.5, initial)
    // Step 1: decay min(0.5, 2/11) = 2/11; step 2: min(0.5, 3/12) = 1/4.
    average.update({w: Float32Array.of(11, -1), b: Float32Array.of(12)})
    const w1 = [(2 / 11) * 0 + (9 / 11) * 11, (2 / 11) * 10 + (9 / 11) * -1]
    const b1 = (2 / 11) * 1 + (9 / 11) * 12
    average.update({w: Float32Array.of(1, 2), b: Float32Array.of(3)})
    expect(average.steps).to.equal(2)
    expect(average.values.w[0]).to.be.closeTo(0.25 * w1[0] + 0.75 * 1, 1e-6)
    expect(average.values.w[1]).to.be.closeTo(0.25 * w1[1] + 0.75 * 2, 1e-6)
    expect(average.values.b[0]).to.be.closeTo(0.25 * b1 + 0.75 * 3, 1e-6)
    expect(Array.from(initial.w)).to.deep.equal([0, 10])
  })

  it('refuses values of another shape', () => {
    const average = new WeightAverage(0.9, {w: new Float32Array(3)})
    expect(() => average.update({w: new Float32Array(2)})).to.throw(/no value w of 3 numbers/)
  })
})
