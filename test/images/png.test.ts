import {expect} from 'chai'
import {Jimp} from 'jimp'

import {grayPng, grayPngBytes, rgbaPng} from '../../src/images/png.js'

describe('grayscale PNG', () => {
  it('holds every grey level of a non-square image where an image library decodes it', async () => {
    const [width, height] = [7, 3]
    const levels = Uint8Array.from({length: width * height}, (_, i) => (i * 37) % 256)
    const {bitmap} = await Jimp.read(grayPngBytes(levels, width, height))
    expect([bitmap.width, bitmap.height]).to.deep.equal([width, height])
    for (let i = 0; i < levels.length; i++)
      expect([...bitmap.data.subarray(4 * i, 4 * i + 4)], `pixel ${i}`).to.deep.equal([levels[i], levels[i], levels[i], 255])
  })

  it('clamps values in [0, 1] to grey levels, black for what is not a number', async () => {
    const {bitmap} = await Jimp.read(grayPng(Float32Array.from([0, 0.5, 1, 2, -1, Number.NaN, 0.2, 0.9, 1]), 3))
    expect(Array.from({length: 9}, (_, i) => bitmap.data[4 * i])).to.deep.equal([0, 128, 255, 255, 0, 0, 51, 229, 255])
  })

  it('holds every RGBA pixel of a plot-like image where an image library decodes it', async () => {
    const [width, height] = [5, 4]
    const pixels = Uint8Array.from({length: 4 * width * height}, (_, i) => (i % 4 === 3 ? 255 : (i * 29) % 256))
    const {bitmap} = await Jimp.read(rgbaPng(pixels, width, height))
    expect([bitmap.width, bitmap.height]).to.deep.equal([width, height])
    expect([...bitmap.data]).to.deep.equal([...pixels])
    expect(() => rgbaPng(pixels.subarray(4), width, height)).to.throw(RangeError, 'expected 20 pixels, got 19')
  })

  it('refuses pixels that are not width × height', () => {
    expect(() => grayPngBytes(new Uint8Array(5), 2, 3)).to.throw(RangeError, 'expected 6 pixels, got 5')
  })
})
