import {expect} from 'chai'

import {selectBackend} from '../../src/engine/backend.js'
import type {Checkpoint} from '../../src/model/checkpoint.js'
import {buildLayersModel} from '../../src/model/export.js'
import {describeNetwork, initialValues} from '../../src/model/network.js'
import {formatModelSummary, modelSummary} from '../../src/model/summary.js'

describe('model summary', () => {
  before(async () => {
    await selectBackend('cpu')
  })

  for (const [kind, k] of [
    ['cnn', 3],
    ['wide', 10],
    ['softmax', 3],
    ['cnn', 2],
  ] as const) {
    it(`lists the ${kind}'s layers (K = ${k}) with the output shapes and parameter counts of the same network built by tfjs-layers`, () => {
      const net = describeNetwork(kind, k)
      const summary = modelSummary(net)
      const classes = Array.from({length: k}, (_, i) => i)
      const header = {model: kind, classes, normalization: {method: 'standardize', mean: 0.1, std: 0.3}, calibration: null}
      const checkpoint = {header, values: initialValues(net, 1)} as unknown as Checkpoint
      const model = buildLayersModel(checkpoint)
      try {
        const reference = model.layers.filter((layer) => layer.name !== 'normalize')
        const ours = summary.rows.filter((row) => row.layer !== 'input')
        expect(ours.map((r) => r.layer)).to.deep.equal(reference.map((l) => l.name))
        for (const [i, layer] of reference.entries()) {
          expect(ours[i].shape, layer.name).to.deep.equal((layer.outputShape as number[]).slice(1))
          expect(ours[i].params, layer.name).to.equal(layer.countParams())
        }

        expect(summary.params).to.equal(model.countParams())
      } finally {
        model.dispose()
      }
    })
  }

  it('prints a table that ends with the totals', () => {
    const text = formatModelSummary(modelSummary(describeNetwork('cnn', 3)))
    expect(text).to.match(/conv2 +\[B, 14, 14, 32\] +4,640\n/)
    expect(text).to.match(/bn1 +\[B, 28, 28, 16\] +64 \(32 trainable\)\n/)
    expect(text.trimEnd().split('\n').at(-1)).to.equal('  9,699 parameters, 9,603 trainable (batch-norm running statistics are not)')
  })
})
