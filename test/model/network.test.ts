import {expect} from 'chai'

import {BN_EPSILON, NETWORK_PRESETS, cnnFeatureShape, describeNetwork, featureCount, parameterSpecs} from '../../src/model/network.js'

/** Every view of the network checked against its one description (src/architecture.ts). */
describe('the network description', () => {
  it('is the SPEC §2 CNN for cnn: conv 16 → conv 32 (3×3, same, BN, ReLU, pool 2), flatten 1568, dense K', () => {
    const net = describeNetwork('cnn', 3)
    expect(net.blocks.map((b) => [b.filters, b.kernel, b.pool])).to.deep.equal([
      [16, 3, 2],
      [32, 3, 2],
    ])
    expect(net.hidden).to.equal(undefined)
    expect(cnnFeatureShape(net)).to.deep.equal([7, 7, 32])
    const specs = parameterSpecs(net)
    expect(specs['conv1.kernel'].shape).to.deep.equal([3, 3, 1, 16])
    expect(specs['conv2.kernel'].shape).to.deep.equal([3, 3, 16, 32])
    expect(specs['dense.kernel'].shape).to.deep.equal([1568, 3])
    expect(specs['conv2.kernel'].fanIn).to.equal(144)
    expect(parameterSpecs(describeNetwork('cnn', 10))['dense.bias'].shape).to.deep.equal([10])
  })

  it('is the Keras demo’s CNN with batch norm for wide: conv 32 → conv 64 → dense 128, ReLU, dropout 0.5 → dense K', () => {
    const net = describeNetwork('wide', 10)
    expect(net.blocks.map((b) => b.filters)).to.deep.equal([32, 64])
    expect(net.hidden).to.deep.equal({name: 'hidden', units: 128, dropout: 0.5})
    const specs = parameterSpecs(net)
    expect(Object.keys(specs).slice(-4)).to.deep.equal(['hidden.kernel', 'hidden.bias', 'dense.kernel', 'dense.bias'])
    expect(specs['hidden.kernel'].shape).to.deep.equal([3136, 128])
    expect(specs['dense.kernel'].shape).to.deep.equal([128, 10])
    expect(specs['dense.kernel'].fanIn).to.equal(128)
  })

  it('is a dense layer on the 784 pixels for softmax', () => {
    const net = describeNetwork('softmax', 2)
    expect(net.blocks).to.deep.equal([])
    expect(featureCount(net)).to.equal(784)
    expect(Object.keys(parameterSpecs(net))).to.deep.equal(['dense.kernel', 'dense.bias'])
    expect(parameterSpecs(net)['dense.kernel'].shape).to.deep.equal([784, 2])
  })

  it('takes 2 to 10 classes, for every preset', () => {
    expect([...NETWORK_PRESETS]).to.deep.equal(['cnn', 'wide', 'softmax'])
    for (const preset of NETWORK_PRESETS) {
      expect(describeNetwork(preset, 2).dense.units).to.equal(2)
      expect(() => describeNetwork(preset, 11)).to.throw(RangeError, /2 to 10/)
      expect(() => describeNetwork(preset, 1.5)).to.throw(RangeError)
    }
  })

  it("gives the batch-norm epsilon every view uses (the engine's reference imports it)", () => {
    expect(BN_EPSILON).to.equal(describeNetwork('cnn', 3).batchNorm.epsilon)
    expect(BN_EPSILON).to.equal(1e-5)
  })
})
