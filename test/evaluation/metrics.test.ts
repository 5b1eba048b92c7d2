import {expect} from 'chai'

import {Rng} from '../../src/data/rng.js'
import {classificationReport, macroF1} from '../../src/evaluation/metrics.js'
import {ClassificationReportSchema} from '../../src/evaluation/schema.js'

const close = 1e-12

describe('classificationReport', () => {
  // 3 zeros, 2 fives, 5 eights; 5 is never predicted.
  const yTrue = [0, 0, 0, 5, 5, 8, 8, 8, 8, 8]
  const yPred = [0, 0, 8, 8, 8, 8, 8, 8, 0, 8]

  it('matches hand-computed scores, with 0 for a class never predicted', () => {
    const report = classificationReport(yTrue, yPred, [0, 5, 8])
    expect(ClassificationReportSchema.parse(report)).to.deep.equal(report)
    expect(report.labels).to.deep.equal([0, 5, 8])
    expect(report.confusion_matrix).to.deep.equal([
      [2, 0, 1],
      [0, 0, 2],
      [1, 0, 4],
    ])
    expect(report.total).to.equal(10)
    expect(report.accuracy).to.be.closeTo(0.6, close)

    const {0: zero, 5: five, 8: eight} = report.per_class
    expect(zero.precision).to.be.closeTo(2 / 3, close)
    expect(zero.recall).to.be.closeTo(2 / 3, close)
    expect(zero.f1).to.be.closeTo(2 / 3, close)
    expect(zero.support).to.equal(3)
    expect(five).to.deep.equal({precision: 0, recall: 0, f1: 0, support: 2})
    expect(eight.precision).to.be.closeTo(4 / 7, close)
    expect(eight.recall).to.be.closeTo(4 / 5, close)
    expect(eight.f1).to.be.closeTo(2 / 3, close)
    expect(eight.support).to.equal(5)

    expect(report.macro_avg.precision).to.be.closeTo(26 / 63, close)
    expect(report.macro_avg.recall).to.be.closeTo(22 / 45, close)
    expect(report.macro_avg.f1).to.be.closeTo(4 / 9, close)
    expect(report.macro_avg.support).to.equal(10)
    expect(report.balanced_accuracy).to.be.closeTo(22 / 45, close)
    expect(report.weighted_avg.precision).to.be.closeTo(17 / 35, close)
    expect(report.weighted_avg.recall).to.be.closeTo(0.6, close)
    expect(report.weighted_avg.f1).to.be.closeTo(8 / 15, close)
    expect(report.weighted_avg.support).to.equal(10)
  })

  it('gives a class with no support recall and F1 0, not NaN', () => {
    const report = classificationReport([0, 8, 8], [0, 5, 8], [0, 5, 8])
    expect(report.per_class['5']).to.deep.equal({precision: 0, recall: 0, f1: 0, support: 0})
    expect(report.per_class['8'].precision).to.equal(1)
    expect(report.per_class['8'].recall).to.equal(0.5)
    expect(report.macro_avg.f1).to.be.closeTo(5 / 9, close)
    expect(report.weighted_avg.f1).to.be.closeTo(7 / 9, close)
    expect(report.accuracy).to.be.closeTo(2 / 3, close)
  })

  it('reproduces the published evaluation split result of the original', () => {
    // SPEC §4: 240 zeros, 60 fives, 700 eights; three mistakes.
    const truth = [...Array(240).fill(0), ...Array(60).fill(5), ...Array(700).fill(8)]
    const predicted = [...truth]
    predicted[0] = 8
    predicted[240] = 8
    predicted[300] = 0
    const report = classificationReport(truth, predicted, [0, 5, 8])
    expect(report.confusion_matrix).to.deep.equal([
      [239, 0, 1],
      [0, 59, 1],
      [1, 0, 699],
    ])
    expect(report.accuracy).to.equal(0.997)
    expect(report.macro_avg.f1.toFixed(4)).to.equal('0.9951')
  })

  it('works on class indices and typed arrays as the trainer passes them', () => {
    const report = classificationReport(Int32Array.of(0, 1, 2, 2), Int32Array.of(0, 1, 2, 1), [0, 1, 2])
    expect(Object.keys(report.per_class)).to.deep.equal(['0', '1', '2'])
    expect(report.per_class['1'].precision).to.equal(0.5)
  })

  it('has no NaN when there are no samples', () => {
    const report = classificationReport([], [], [0, 5, 8])
    expect(report.total).to.equal(0)
    expect(report.accuracy).to.equal(0)
    expect(report.macro_avg).to.deep.equal({precision: 0, recall: 0, f1: 0, support: 0})
    expect(report.weighted_avg).to.deep.equal({precision: 0, recall: 0, f1: 0, support: 0})
  })

  it('refuses mismatched lengths and labels outside the list', () => {
    expect(() => classificationReport([0, 5], [0], [0, 5, 8])).to.throw(RangeError, /differ in length/)
    expect(() => classificationReport([0, 3], [0, 5], [0, 5, 8])).to.throw(RangeError, /true label 3/)
    expect(() => classificationReport([0, 5], [0, 9], [0, 5, 8])).to.throw(RangeError, /predicted label 9/)
    expect(() => classificationReport([0], [0], [0, 0])).to.throw(RangeError, /twice/)
    expect(() => classificationReport([0], [0], [])).to.throw(RangeError, /empty/)
    expect(() => classificationReport([0], [0], [-1])).to.throw(RangeError, /non-negative/)
  })
})

describe('macroF1', () => {
  it('matches the hand-computed value and the report', () => {
    expect(macroF1([0, 0, 0, 5, 5, 8, 8, 8, 8, 8], [0, 0, 8, 8, 8, 8, 8, 8, 0, 8], [0, 5, 8])).to.be.closeTo(4 / 9, close)
    expect(macroF1([0, 8, 8], [0, 5, 8], [0, 5, 8])).to.be.closeTo(5 / 9, close)
  })

  it('equals the report macro F1 on random predictions', () => {
    const rng = new Rng(7)
    const labels = [0, 5, 8]
    const truth = Array.from({length: 500}, () => labels[rng.int(3)])
    const predicted = truth.map((label) => (rng.next() < 0.7 ? label : labels[rng.int(3)]))
    expect(macroF1(truth, predicted, [0, 5, 8])).to.equal(classificationReport(truth, predicted, [0, 5, 8]).macro_avg.f1)
  })

  it('is 1 for perfect predictions and 0 for all wrong', () => {
    expect(macroF1([0, 5, 8], [0, 5, 8], [0, 5, 8])).to.equal(1)
    expect(macroF1([0, 5, 8], [5, 8, 0], [0, 5, 8])).to.equal(0)
  })
})
