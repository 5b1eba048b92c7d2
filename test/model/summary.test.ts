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

  for (const kind of ['cnn', 'softmax'] as const) {
    it(`lists the ${kind}'s layers with the output shapes and parameter counts of the same network built by tfjs-layers`, () => {
      const summary = modelSummary(describeNetwork(kind, 3))
      const checkpoint = {header: {model: kind, classes: [0, 5, 8], normalization: {method: 'standardize', mean: 0.1, std: 0.3}, calibration: null}, values: initialValues(describeNetwork(kind, 3), 1)} as unknown as Checkpoint
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
