/**
 * Images with a flat background (canvas drawings, MNIST digits, plain scans)
 * keep exactly the recipe they always had: the 28×28 input of each is compared,
 * byte for byte, with a digest taken before photos of paper got their own path.
 */
import {createHash} from 'node:crypto'

import {expect} from 'chai'

import {thicken} from '../../bench/photo-scenes.js'
import {Rng} from '../../src/data/rng.js'
import {strokeWidth} from '../../src/images/mnist.js'
import {type GrayImage, preprocessBytes, toMnist} from '../../src/images/preprocess.js'
import {readFixture} from '../helpers/fixtures.js'
import {drawDigit, encode, grayImage, mnistDigit} from './draw.js'

const digest = (pixels: Float32Array) =>
  createHash('sha256')
    .update(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength))
    .digest('hex')
    .slice(0, 16)

/** A 7 as the web page's pad draws it: a white round-capped stroke on black, 280×280, anti-aliased over a pixel. */
export function padSeven(brush = 18): GrayImage {
  const size = 280
  const points = [
    [0.28, 0.22],
    [0.72, 0.22],
    [0.62, 0.45],
    [0.5, 0.82],
  ].map(([x, y]) => [x * size, y * size])
  const data = new Float32Array(size * size)
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let distance = Infinity
      for (let k = 0; k + 1 < points.length; k++) {
        const [ax, ay] = points[k]
        const [bx, by] = points[k + 1]
        const t = Math.min(1, Math.max(0, ((x + 0.5 - ax) * (bx - ax) + (y + 0.5 - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2)))
        distance = Math.min(distance, Math.hypot(x + 0.5 - ax - t * (bx - ax), y + 0.5 - ay - t * (by - ay)))
      }

      data[y * size + x] = Math.min(1, Math.max(0, brush / 2 + 0.5 - distance))
    }
  }

  return {width: size, height: size, data}
}

/** A plain scan: an MNIST digit drawn large on light paper with a little paper noise, saved as JPEG. */
async function plainScan(label: number, index: number, seed: number): Promise<Buffer> {
  const digit = mnistDigit(label, index)
  const rng = new Rng(seed)
  const drawn = drawDigit(digit, {canvas: 420, scale: 11, left: 40 + 20 * index, top: 60, darkOnLight: true})
  const noisy = grayImage(420, 420, (x, y) => {
    const v = drawn.bitmap.data[(y * 420 + x) * 4] / 255
    return Math.min(1, Math.max(0, 0.08 + 0.84 * v + 0.04 * (rng.next() * 2 - 1)))
  })
  return encode(noisy, 'image/jpeg')
}

/** Digests of the 28×28 inputs before the photo path existed (same code as today's flat path). */
const EXPECTED = {
  fixtures: '7144de7ac38fca0a',
  fixturesInverted: '8debe0cce7b5922f',
  pad7: 'ba41361601e148ab',
  pad7Thin: 'a5536931f914e8cb',
  pad7Png: '4851a50fe78f1e80',
  drawnPng: '9bc2f10b90e1cc37',
  drawnLightOnDark: '68804b6e9bea6f7c',
  scans: '00fc5be259d5cc84',
  pad7Brush40: '4955c6d854a1c029',
  drawnThick: '740eccf12b0716f8',
}

describe('flat backgrounds keep the recipe they had, bit for bit', function () {
  this.timeout(60_000)
  const check = (key: keyof typeof EXPECTED, inputs: Float32Array[]) => {
    const all = new Float32Array(inputs.length * 784)
    for (const [i, pixels] of inputs.entries()) all.set(pixels, i * 784)
    expect(digest(all), key).to.equal(EXPECTED[key])
  }

  it('the MNIST fixtures, in both polarities', async () => {
    const {images} = await readFixture()
    const plain: Float32Array[] = []
    const inverted: Float32Array[] = []
    for (let i = 0; i < 200; i++) {
      const pixels = images.pixels.subarray(i * 784, (i + 1) * 784)
      plain.push(toMnist({width: 28, height: 28, data: Float32Array.from(pixels, (v) => v / 255)}, {preprocess: true}).pixels)
      inverted.push(toMnist({width: 28, height: 28, data: Float32Array.from(pixels, (v) => 1 - v / 255)}, {preprocess: true}).pixels)
    }

    check('fixtures', plain)
    check('fixturesInverted', inverted)
  })

  it("a 7 drawn on the page's pad, as pixels and as the PNG the page sends", async () => {
    const seven = padSeven()
    const result = toMnist(seven, {preprocess: true})
    expect(result.stroke).to.equal(true)
    check('pad7', [result.pixels])
    check('pad7Thin', [toMnist(padSeven(6), {preprocess: true}).pixels])
    const png = await encode(
      grayImage(seven.width, seven.height, (x, y) => seven.data[y * seven.width + x]),
      'image/png',
    )
    check('pad7Png', [(await preprocessBytes(png, 'canvas drawing', {preprocess: true})).pixels])
  })

  it('digits drawn large on a canvas, dark on light and light on dark', async () => {
    const dark: Float32Array[] = []
    const light: Float32Array[] = []
    for (const [label, index] of [
      [0, 0],
      [5, 1],
      [8, 2],
      [7, 0],
    ]) {
      const placement = {canvas: 500, scale: 12, left: 30 + 40 * index, top: 90, darkOnLight: true}
      dark.push((await preprocessBytes(await encode(drawDigit(mnistDigit(label, index), placement), 'image/png'), 'a.png', {preprocess: true})).pixels)
      const inverted = {...placement, darkOnLight: false}
      light.push((await preprocessBytes(await encode(drawDigit(mnistDigit(label, index), inverted), 'image/png'), 'b.png', {preprocess: true})).pixels)
    }

    check('drawnPng', dark)
    check('drawnLightOnDark', light)
  })

  it('plain scans: light paper, a little noise, JPEG', async () => {
    const scans: Float32Array[] = []
    for (const [label, index] of [
      [0, 4],
      [5, 2],
      [8, 1],
    ]) {
      scans.push((await preprocessBytes(await plainScan(label, index, 10 * label + index), 'scan.jpg', {preprocess: true})).pixels)
    }

    check('scans', scans)
  })

  it("strokes as thick as a marker on digital paper read as the digit's own recipe: not thinned, not taken for uneven light", async () => {
    const pad = toMnist(padSeven(40), {preprocess: true}).pixels
    check('pad7Brush40', [pad])
    const thick: Float32Array[] = []
    for (const [label, index] of [
      [0, 4],
      [8, 1],
    ]) {
      const digit = thicken(Float32Array.from(mnistDigit(label, index)))
      const own = toMnist({width: 28, height: 28, data: digit}, {preprocess: true}).pixels
      for (const darkOnLight of [true, false]) {
        const png = await encode(drawDigit(Array.from(digit), {canvas: 500, scale: 12, left: 60, top: 90, darkOnLight}), 'image/png')
        const {pixels} = await preprocessBytes(png, 'thick.png', {preprocess: true})
        // Taken for a photo (the paper's closing sinking into the blobs), these differed from the digit's own by 0.43 to 0.59.
        let differ = 0
        for (let i = 0; i < 784; i++) differ = Math.max(differ, Math.abs(pixels[i] - own[i]))
        expect(differ, `${label}#${index}`).to.be.below(0.15)
        thick.push(pixels)
      }
    }

    // Thick enough that ink on paper would be thinned.
    for (const pixels of [pad, ...thick]) expect(strokeWidth(pixels)).to.be.above(3)
    check('drawnThick', thick)
  })
})
