import {expect} from 'chai'

import {CNN_PARAMETERS} from '../../src/engine/cnn-gradients.js'
import {KERNEL_PARAMETERS, KERNEL_RUNNING} from '../../src/engine/cnn-kernel.js'
import {BN_EPSILON, CNN, cnnFeatureShape, parameterSpecs} from '../../src/model/network.js'

/** Every view of the network checked against its one description (CNN in src/model/network.ts). */
describe('the network description', () => {
  it('is the SPEC §2 CNN: conv 16 → conv 32 (3×3, same, BN, ReLU, pool 2), flatten 1568, dense 3', () => {
    expect(CNN.blocks.map((b) => [b.filters, b.kernel, b.pool])).to.deep.equal([
      [16, 3, 2],
      [32, 3, 2],
    ])
    expect(cnnFeatureShape()).to.deep.equal([7, 7, 32])
    const specs = parameterSpecs('cnn')
    expect(specs['conv1.kernel'].shape).to.deep.equal([3, 3, 1, 16])
    expect(specs['conv2.kernel'].shape).to.deep.equal([3, 3, 16, 32])
    expect(specs['dense.kernel'].shape).to.deep.equal([1568, 3])
    expect(specs['conv2.kernel'].fanIn).to.equal(144)
  })

  it('is what the engine\'s kernels take: the same parameters and running statistics, in layout order', () => {
    const trainable = Object.entries(parameterSpecs('cnn'))
      .filter(([, spec]) => spec.trainable)
      .map(([name]) => name)
    expect([...CNN_PARAMETERS]).to.deep.equal(trainable)
    expect([...KERNEL_PARAMETERS]).to.deep.equal(trainable)
    const running = Object.entries(parameterSpecs('cnn'))
      .filter(([, spec]) => !spec.trainable)
      .map(([name]) => name)
    expect([...KERNEL_RUNNING]).to.deep.equal(running)
  })

  it('gives the batch-norm epsilon every view uses (the engine\'s reference imports it)', () => {
    expect(BN_EPSILON).to.equal(CNN.batchNorm.epsilon)
    expect(CNN.batchNorm.epsilon).to.equal(1e-5)
  })
})
