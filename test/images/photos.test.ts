import {expect} from 'chai'

import {Rng} from '../../src/data/rng.js'
import {preprocessBytes} from '../../src/images/preprocess.js'
import {makePhoto} from '../../bench/photo-scenes.js'
import {correlation, mnistDigit} from './draw.js'

describe('photos of paper', function () {
  this.timeout(120_000)
  for (const condition of ['gradient', 'ruled', 'all three'] as const) {
    it(`finds the digit under ${condition}: the 28×28 input matches the MNIST digit`, async () => {
      const rng = new Rng(41)
      const scores: number[] = []
      for (const [label, index] of [
        [0, 3],
        [5, 4],
        [8, 5],
      ] as const) {
        const digit = Float32Array.from(mnistDigit(label, index))
        const {pixels, stroke} = await preprocessBytes(await makePhoto(condition, digit, rng), 'photo.jpg', {preprocess: true})
        expect(stroke).to.equal(true)
        scores.push(correlation(pixels, digit))
      }

      expect(Math.min(...scores), scores.join(', ')).to.be.above(0.6)
    })
  }
})
