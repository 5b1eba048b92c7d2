import {expect} from 'chai'

import {Rng} from '../../src/data/rng.js'
import {binaryRoc, rocCurves} from '../../src/evaluation/roc.js'

/** AUC as the probability that a random positive outscores a random negative (ties count half). */
function pairwiseAuc(positive: boolean[], scores: number[]): number {
  let wins = 0
  let pairs = 0
  for (const [i, isPositive] of positive.entries()) {
    if (!isPositive) continue
    for (const [j, isOther] of positive.entries()) {
      if (isOther) continue
      pairs++
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0
    }
  }

  return wins / pairs
}

describe('binaryRoc', () => {
  it("matches scikit-learn's documented example", () => {
    // sklearn.metrics.roc_curve([1, 1, 2, 2], [0.1, 0.4, 0.35, 0.8], pos_label=2)
    const curve = binaryRoc([false, false, true, true], [0.1, 0.4, 0.35, 0.8])
    expect(curve.fpr).to.deep.equal([0, 0, 0.5, 0.5, 1])
    expect(curve.tpr).to.deep.equal([0, 0.5, 0.5, 1, 1])
    expect(curve.thresholds).to.deep.equal([1.8, 0.8, 0.4, 0.35, 0.1])
    expect(curve.auc).to.equal(0.75)
  })

  it('makes tied scores one point (one diagonal step)', () => {
    // Sorted: 0.8 (+), 0.4 (−), 0.4 (+), 0.1 (−): the two 0.4s move the curve together.
    const curve = binaryRoc([false, false, true, true], [0.1, 0.4, 0.4, 0.8])
    expect(curve.fpr).to.deep.equal([0, 0, 0.5, 1])
    expect(curve.tpr).to.deep.equal([0, 0.5, 1, 1])
    expect(curve.thresholds).to.deep.equal([1.8, 0.8, 0.4, 0.1])
    expect(curve.auc).to.equal(0.875)

    const allTied = binaryRoc([true, false, true, false], [0.5, 0.5, 0.5, 0.5])
    expect(allTied.fpr).to.deep.equal([0, 1])
    expect(allTied.tpr).to.deep.equal([0, 1])
    expect(allTied.auc).to.equal(0.5)
  })

  it('drops collinear points by default, like drop_intermediate=True', () => {
    const positive = [true, true, false, false]
    const scores = [0.9, 0.8, 0.7, 0.6]
    const dropped = binaryRoc(positive, scores)
    expect(dropped.fpr).to.deep.equal([0, 0, 0, 1])
    expect(dropped.tpr).to.deep.equal([0, 0.5, 1, 1])
    expect(dropped.thresholds).to.deep.equal([1.9, 0.9, 0.8, 0.6])

    const full = binaryRoc(positive, scores, {dropIntermediate: false})
    expect(full.fpr).to.deep.equal([0, 0, 0, 0.5, 1])
    expect(full.thresholds).to.deep.equal([1.9, 0.9, 0.8, 0.7, 0.6])
    expect(full.auc).to.equal(dropped.auc)
    expect(full.auc).to.equal(1)
  })

  it('agrees with the pairwise definition of AUC on random tied scores', () => {
    const rng = new Rng(3)
    const positive = Array.from({length: 300}, () => rng.next() < 0.3)
    // One decimal: many ties.
    const scores = positive.map((isPositive) => Math.round((rng.next() + (isPositive ? 0.3 : 0)) * 10) / 10)
    const curve = binaryRoc(positive, scores)
    expect(curve.auc).to.be.closeTo(pairwiseAuc(positive, scores), 1e-12)
    expect(curve.fpr[0]).to.equal(0)
    expect(curve.tpr.at(-1)).to.equal(1)
    for (let i = 1; i < curve.fpr.length; i++) {
      expect(curve.fpr[i]).to.be.at.least(curve.fpr[i - 1])
      expect(curve.thresholds[i]).to.be.below(curve.thresholds[i - 1])
    }
  })

  it('has no curve and a null AUC without positives or without negatives', () => {
    expect(binaryRoc([false, false], [0.2, 0.7])).to.deep.equal({fpr: [], tpr: [], thresholds: [], auc: null})
    expect(binaryRoc([true, true], [0.2, 0.7]).auc).to.equal(null)
    expect(binaryRoc([], []).auc).to.equal(null)
  })

  it('refuses mismatched lengths and non-finite scores', () => {
    expect(() => binaryRoc([true], [0.1, 0.2])).to.throw(RangeError, /length/)
    expect(() => binaryRoc([true, false], [0.1, Number.NaN])).to.throw(RangeError, /finite/)
  })
})

describe('rocCurves', () => {
  it('computes one-vs-rest curves per class and the macro AUC', () => {
    const yTrue = [0, 5, 8, 8]
    const probs = [
      [0.7, 0.2, 0.1],
      [0.2, 0.5, 0.3],
      [0.1, 0.1, 0.8],
      [0.5, 0.1, 0.4],
    ]
    const {per_class: perClass, macro_auc: macroAuc} = rocCurves(yTrue, probs, [0, 5, 8])
    expect(perClass.map((curve) => curve.label)).to.deep.equal([0, 5, 8])
    // Class 0: its one sample has the top score.
    expect(perClass[0].auc).to.equal(1)
    // Class 5: 0.5 beats every other sample.
    expect(perClass[1].auc).to.equal(1)
    // Class 8: positives 0.8 and 0.4 against negatives 0.1 and 0.3: 0.4 loses to nothing, so 4/4.
    expect(perClass[2].auc).to.equal(1)
    expect(macroAuc).to.equal(1)

    const swapped = rocCurves(
      [0, 5, 8, 8],
      probs.map((row) => [row[2], row[1], row[0]]),
      [0, 5, 8],
    )
    // Class 0 now scored by class 8's column: its sample (0.1) is outscored by 0.3, 0.8 and 0.4.
    expect(swapped.per_class[0].auc).to.equal(0)
    expect(swapped.macro_auc).to.be.closeTo((0 + 1 + pairwiseAuc([false, false, true, true], [0.7, 0.2, 0.1, 0.5])) / 3, 1e-12)
  })

  it('leaves a class absent from yTrue out of the macro average', () => {
    const {per_class: perClass, macro_auc: macroAuc} = rocCurves(
      [0, 8, 8, 0],
      [
        [0.9, 0.05, 0.05],
        [0.2, 0.1, 0.7],
        [0.6, 0.1, 0.3],
        [0.4, 0.2, 0.4],
      ],
      [0, 5, 8],
    )
    expect(perClass[1]).to.deep.equal({label: 5, fpr: [], tpr: [], thresholds: [], auc: null})
    expect(perClass[0].auc).to.equal(0.75)
    expect(perClass[2].auc).to.equal(0.75)
    expect(macroAuc).to.equal(0.75)
    expect(
      rocCurves(
        [5, 5],
        [
          [0.1, 0.8, 0.1],
          [0.2, 0.7, 0.1],
        ],
        [0, 5, 8],
      ).macro_auc,
    ).to.equal(null)
  })

  it('refuses rows of the wrong width and mismatched lengths', () => {
    expect(() => rocCurves([0], [[0.5, 0.5]], [0, 5, 8])).to.throw(RangeError, /3 values/)
    expect(() => rocCurves([0, 5], [[0.5, 0.25, 0.25]], [0, 5, 8])).to.throw(RangeError, /length/)
  })
})
