/**
 * Photos of paper made by the photo generator (bench/photo-scenes.ts): a shadow
 * band alone is no digit, faint pencil or a slanted shadow across the digit
 * still give a tight crop, like the MNIST digit the photo was made from, and a
 * felt marker's thick strokes are thinned towards that digit's width while
 * strokes as thin as MNIST's are left as they were.
 */
import {createHash} from 'node:crypto'

import {expect} from 'chai'

import {makePhoto} from '../../bench/photo-scenes.js'
import {Rng} from '../../src/data/rng.js'
import {strokeWidth} from '../../src/images/mnist.js'
import {preprocessBytes, toMnist} from '../../src/images/preprocess.js'
import {mnistDigit} from './draw.js'

/** The ink's bounding box in a 28×28 input: its long side is 20 when the crop held the digit alone. */
function longSide(pixels: Float32Array): number {
  let left = 28
  let right = -1
  let top = 28
  let bottom = -1
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      if (pixels[y * 28 + x] < 0.2) continue
      left = Math.min(left, x)
      right = Math.max(right, x)
      top = Math.min(top, y)
      bottom = Math.max(bottom, y)
    }
  }

  return Math.max(right - left + 1, bottom - top + 1)
}

/** Pearson correlation of two 784-value images. */
function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ma = 0
  let mb = 0
  for (let i = 0; i < 784; i++) {
    ma += a[i] / 784
    mb += b[i] / 784
  }

  let ab = 0
  let aa = 0
  let bb = 0
  for (let i = 0; i < 784; i++) {
    ab += (a[i] - ma) * (b[i] - mb)
    aa += (a[i] - ma) ** 2
    bb += (b[i] - mb) ** 2
  }

  return ab / Math.sqrt(aa * bb)
}

describe('photos of paper', function () {
  this.timeout(120_000)

  it('a shadow band on blank paper is no digit, however it crosses the page', async () => {
    const rng = new Rng(4203)
    const found: number[] = []
    for (let i = 0; i < 12; i++) {
      const {stroke} = await preprocessBytes(await makePhoto('shadow only', undefined, rng), 'shadow.jpg', {preprocess: true})
      if (stroke) found.push(i)
    }

    expect(found, 'scenes read as holding a stroke').to.deep.equal([])
  })

  /** Labels and indices of MNIST digits the photos are made from. */
  const DIGITS = [
    [0, 0],
    [5, 1],
    [8, 2],
    [5, 3],
    [0, 4],
    [8, 5],
  ]

  for (const condition of ['pencil', 'shadow'] as const) {
    it(`a digit in ${condition} is cropped tightly, as the MNIST digit it was made from`, async () => {
      const rng = new Rng(condition === 'pencil' ? 11 : 12)
      const loose: string[] = []
      for (const [label, index] of DIGITS) {
        const digit = mnistDigit(label, index)
        const {pixels, stroke} = await preprocessBytes(await makePhoto(condition, Float32Array.from(digit), rng), 'photo.jpg', {preprocess: true})
        const side = longSide(pixels)
        const r = correlation(pixels, digit)
        if (!stroke || side < 18 || r < 0.6) loose.push(`${label}#${index}: box ${side}, correlation ${r.toFixed(2)}`)
      }

      expect(loose).to.deep.equal([])
    })
  }

  it('a digit in marker comes out about as thin as the MNIST digit it was made from', async () => {
    const rng = new Rng(13)
    const excess: number[] = []
    for (const [label, index] of DIGITS) {
      const digit = Float32Array.from(mnistDigit(label, index))
      const own = strokeWidth(toMnist({width: 28, height: 28, data: digit}, {preprocess: true}).pixels)
      const {pixels, stroke} = await preprocessBytes(await makePhoto('marker', digit, rng), 'marker.jpg', {preprocess: true})
      expect(stroke).to.equal(true)
      excess.push(strokeWidth(pixels) - own)
    }

    // The marker's 3×3 spread adds about 1.8 pixels of width on the 28×28 input when nothing thins it.
    const mean = excess.reduce((a, b) => a + b, 0) / excess.length
    expect(mean, `width over the digit's own: ${excess.map((e) => e.toFixed(2)).join(', ')}`).to.be.below(1)
  })

  it('thin digits in a clean photo are left bit for bit as they were before marker strokes were thinned', async () => {
    const rng = new Rng(14)
    const all = new Float32Array(DIGITS.length * 784)
    for (const [k, [label, index]] of DIGITS.entries()) {
      const photo = await makePhoto('clean', Float32Array.from(mnistDigit(label, index)), rng)
      all.set((await preprocessBytes(photo, 'clean.jpg', {preprocess: true})).pixels, k * 784)
    }

    const digest = createHash('sha256').update(Buffer.from(all.buffer)).digest('hex').slice(0, 16)
    expect(digest).to.equal('c289ec168b8d2465')
  })
})
