import {expect} from 'chai'

import {classificationReport} from '../../src/evaluation/metrics.js'
import {formatClassificationReport, formatConfusionMatrix, formatFixed} from '../../src/evaluation/report.js'

/** SPEC §4, the original's published result, verbatim. */
const SPEC_REPORT = `              precision    recall  f1-score   support

           0     0.9958    0.9958    0.9958       240
           5     1.0000    0.9833    0.9916        60
           8     0.9971    0.9986    0.9979       700

    accuracy                         0.9970      1000
   macro avg     0.9977    0.9926    0.9951      1000
weighted avg     0.9970    0.9970    0.9970      1000`

function specReport() {
  const truth = [...Array(240).fill(0), ...Array(60).fill(5), ...Array(700).fill(8)]
  const predicted = [...truth]
  predicted[0] = 8
  predicted[240] = 8
  predicted[300] = 0
  return classificationReport(truth, predicted, [0, 5, 8])
}

describe('formatClassificationReport', () => {
  it("prints scikit-learn's layout exactly, on the SPEC's numbers", () => {
    expect(formatClassificationReport(specReport())).to.equal(SPEC_REPORT)
  })

  it('rounds exact ties half to even, as Python does', () => {
    // 1 of 32 predictions of class 0 is right: precision 0.03125, which Python prints as 0.0312.
    const truth = [0, ...Array(31).fill(8), 5]
    const predicted = [0, ...Array(31).fill(0), 5]
    const lines = formatClassificationReport(classificationReport(truth, predicted, [0, 5, 8])).split('\n')
    expect(lines[2]).to.equal('           0     0.0312    1.0000    0.0606         1')
  })

  it('fails loudly on a report missing a class', () => {
    const report = specReport()
    delete report.per_class['5']
    expect(() => formatClassificationReport(report)).to.throw(RangeError, /label 5/)
  })
})

describe('formatFixed', () => {
  it('agrees with Python format(x, ".4f")', () => {
    // Values checked against CPython 3: format(x, '.4f').
    expect(formatFixed(0.031_25, 4)).to.equal('0.0312')
    expect(formatFixed(0.093_75, 4)).to.equal('0.0938')
    expect(formatFixed(0.000_05, 4)).to.equal('0.0001')
    expect(formatFixed(0.996_95, 4)).to.equal('0.9970')
    expect(formatFixed(1, 4)).to.equal('1.0000')
    expect(formatFixed(0, 4)).to.equal('0.0000')
    expect(formatFixed(2 / 3, 4)).to.equal('0.6667')
  })
})

describe('formatConfusionMatrix', () => {
  it('labels true rows and predicted columns, right-aligned, without colour codes', () => {
    expect(formatConfusionMatrix(specReport())).to.equal(
      [
        '┌────────┬────────┬────────┬────────┐',
        '│        │ pred 0 │ pred 5 │ pred 8 │',
        '├────────┼────────┼────────┼────────┤',
        '│ true 0 │    239 │      0 │      1 │',
        '│ true 5 │      0 │     59 │      1 │',
        '│ true 8 │      1 │      0 │    699 │',
        '└────────┴────────┴────────┴────────┘',
      ].join('\n'),
    )
  })

  it('fails loudly on a matrix missing a row', () => {
    const report = specReport()
    report.confusion_matrix.pop()
    expect(() => formatConfusionMatrix(report)).to.throw(RangeError, /label 8/)
  })
})
