import {expect} from 'chai'

import {PIXELS} from '../../src/config.js'
import {augmentBatch, augmentRng, inverseOf, warpImage} from '../../src/data/augment.js'
import {readFixture} from '../helpers/fixtures.js'

/** The first `n` fixture digits as floats in [0, 1], with their labels. */
async function digits(n: number): Promise<{x: Float32Array; labels: number[]}> {
  const {images, labels} = await readFixture()
  const x = new Float32Array(n * PIXELS)
  for (let i = 0; i < n * PIXELS; i++) x[i] = images.pixels[i] / 255
  return {x, labels: Array.from(labels.subarray(0, n))}
}

const at = (image: Float32Array, x: number, y: number) => image[y * 28 + x]

describe('augmentation', () => {
  it('warps exactly: identity keeps the image, a whole-pixel shift moves it, a quarter turn rotates it', async () => {
    const {x} = await digits(1)
    const out = new Float32Array(PIXELS)
    warpImage(x, 0, out, 0, inverseOf(0, 1, 0, 0), -1)
    for (let p = 0; p < PIXELS; p++) expect(out[p]).to.be.closeTo(x[p], 1e-6)

    warpImage(x, 0, out, 0, inverseOf(0, 1, 2, -1), -1)
    for (let y = 0; y < 28; y++) {
      for (let col = 0; col < 28; col++) {
        const sx = col - 2
        const sy = y + 1
        const expected = sx < 0 || sy > 27 ? -1 : at(x, sx, sy)
        expect(at(out, col, y)).to.be.closeTo(expected, 1e-5)
      }
    }

    // 90° counter-clockwise in image coordinates (y down): output (x, y) reads source (y, 27 − x).
    warpImage(x, 0, out, 0, inverseOf(Math.PI / 2, 1, 0, 0), -1)
    for (let y = 0; y < 28; y++) for (let col = 0; col < 28; col++) expect(at(out, col, y)).to.be.closeTo(at(x, y, 27 - col), 1e-5)
  })

  it('is reproducible for a seed and epoch, differs between epochs, and never touches the labels', async () => {
    const {x, labels} = await digits(32)
    const run = (seed: number, epoch: number) => {
      const batch = Float32Array.from(x)
      const y = Int32Array.from(labels)
      augmentBatch(batch, 32, augmentRng(seed, epoch), 0)
      return {batch, y}
    }

    const first = run(7, 3)
    expect(first.batch).to.deep.equal(run(7, 3).batch)
    expect(Array.from(first.y)).to.deep.equal(labels)
    expect(first.batch).to.not.deep.equal(run(7, 4).batch)
    expect(first.batch).to.not.deep.equal(run(8, 3).batch)
    expect(first.batch).to.not.deep.equal(x)
  })

  it('keeps each digit whole: its ink changes only by the scale, and every pixel stays in range', async () => {
    const {x} = await digits(64)
    const batch = Float32Array.from(x)
    augmentBatch(batch, 64, augmentRng(11_122_025, 1), 0)
    for (let i = 0; i < 64; i++) {
      const a = x.subarray(i * PIXELS, (i + 1) * PIXELS)
      const b = batch.subarray(i * PIXELS, (i + 1) * PIXELS)
      const inkA = a.reduce((s, v) => s + v, 0)
      const inkB = b.reduce((s, v) => s + v, 0)
      // Scale changes the ink by at most (1.1)² either way; the 20×20 digit box never leaves the 28×28 frame.
      expect(inkB / inkA, `image ${i} ink`).to.be.within(0.75, 1.3)
      expect(Math.min(...b)).to.be.at.least(0)
      expect(Math.max(...b)).to.be.at.most(1)
    }
  })
})
