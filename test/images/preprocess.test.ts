import {expect} from 'chai'

import {Rng} from '../../src/data/rng.js'
import {type GrayImage, IMAGE_LIMITS, decodeImage, orient, preprocessBytes, sniffFormat, toMnist} from '../../src/images/preprocess.js'
import {expectUserRejection} from '../helpers/assert.js'
import {type Mime, centreOfMass, correlation, drawDigit, encode, grayImage, mnistDigit, rgbaImage} from './draw.js'

/** Bounding box of the pixels above `level` in a 28×28 image. */
function inkBox(pixels: ArrayLike<number>, level = 0.3) {
  let left = 28
  let right = -1
  let top = 28
  let bottom = -1
  for (let i = 0; i < pixels.length; i++) {
    if (pixels[i] <= level) continue
    left = Math.min(left, i % 28)
    right = Math.max(right, i % 28)
    top = Math.min(top, Math.floor(i / 28))
    bottom = Math.max(bottom, Math.floor(i / 28))
  }

  return {width: right - left + 1, height: bottom - top + 1}
}

const eight = mnistDigit(8, 3)
const five = mnistDigit(5, 1)

describe('decodeImage', () => {
  const formats: Mime[] = ['image/png', 'image/jpeg', 'image/bmp', 'image/gif', 'image/tiff']
  for (const mime of formats) {
    it(`decodes ${mime} and the digit survives`, async () => {
      const bytes = await encode(drawDigit(eight, {canvas: 120, scale: 4, left: 10, top: 2, darkOnLight: true}), mime)
      const gray = await decodeImage(bytes, `digit.${mime.slice(6)}`)
      expect([gray.width, gray.height]).to.deep.equal([120, 120])
      expect(gray.data).to.have.length(120 * 120)
      // Paper is white, ink black: luminance, not ink.
      expect(gray.data[0]).to.be.closeTo(1, 0.02)
      expect(Math.min(...gray.data)).to.be.below(0.05)
      expect(correlation(toMnist(gray, {preprocess: true}).pixels, eight)).to.be.above(0.95)
    })
  }

  it('recognises formats by their signature, not by name', () => {
    expect(sniffFormat(Buffer.from('GIF87a......'))).to.equal('gif')
    expect(sniffFormat(Buffer.from('II*\0....'))).to.equal('tiff')
    expect(sniffFormat(Buffer.from('RIFF\0\0\0\0WEBPVP8 '))).to.equal(undefined)
  })

  it('rejects empty, unknown and corrupt bytes with one line naming the input', async () => {
    await expectUserRejection(decodeImage(Buffer.alloc(0), 'empty.png'), /^empty\.png: the file is empty/)
    await expectUserRejection(decodeImage(Buffer.from('hello, not an image'), 'notes.txt'), /^notes\.txt: not a PNG, JPEG, BMP, GIF or TIFF image/)
    const png = await encode(
      grayImage(30, 30, () => 1),
      'image/png',
    )
    await expectUserRejection(decodeImage(png.subarray(0, 20), 'cut.png'), /^cut\.png: the PNG image is corrupt or truncated \(header cut short\)/)
    const garbage = Buffer.concat([png.subarray(0, 33), Buffer.from('garbage after a valid header')])
    await expectUserRejection(decodeImage(garbage, 'broken.png'), /^broken\.png: could not decode the PNG image, it is corrupt or truncated/)
    const jpeg = await encode(
      grayImage(30, 30, () => 1),
      'image/jpeg',
    )
    await expectUserRejection(decodeImage(jpeg.subarray(0, 100), 'cut.jpg'), /^cut\.jpg: the JPEG image is corrupt or truncated/)
    const flat = Buffer.from(png)
    flat.writeUInt32BE(0, 20)
    await expectUserRejection(decodeImage(flat, 'flat.png'), /^flat\.png: the PNG image has no pixels \(30×0\)/)
    const bmp = await encode(
      grayImage(8, 8, () => 1),
      'image/bmp',
    )
    bmp.writeInt32LE(-8, 18)
    await expectUserRejection(decodeImage(bmp, 'mirror.bmp'), /^mirror\.bmp: the BMP image has no pixels \(-8×8\)/)
  })

  describe('refuses absurd sizes from the header, before decoding', () => {
    // Each header is patched to claim a huge image; the pixel data (and any checksum) no longer
    // match, so only a check that runs before decoding can say "too large".
    const tooLarge = /too large \(.*\); the limit is 10000 pixels a side and 40 megapixels/

    it('PNG', async () => {
      const png = await encode(
        grayImage(8, 8, () => 1),
        'image/png',
      )
      png.writeUInt32BE(20_000, 16)
      png.writeUInt32BE(20_000, 20)
      await expectUserRejection(decodeImage(png, 'huge.png'), /^huge\.png: the PNG image is too large \(20000×20000 pixels\)/)
      png.writeUInt32BE(9000, 16)
      png.writeUInt32BE(5000, 20)
      await expectUserRejection(decodeImage(png, 'wide.png'), tooLarge)
    })

    it('JPEG', async () => {
      const jpeg = await encode(
        grayImage(8, 8, () => 1),
        'image/jpeg',
      )
      const frame = jpeg.indexOf(Buffer.from([0xff, 0xc0]))
      jpeg.writeUInt16BE(12_000, frame + 7)
      await expectUserRejection(decodeImage(jpeg, 'huge.jpg'), /^huge\.jpg: the JPEG image is too large \(12000×8 pixels\)/)
    })

    it('BMP', async () => {
      const bmp = await encode(
        grayImage(8, 8, () => 1),
        'image/bmp',
      )
      bmp.writeInt32LE(-30_000, 22)
      await expectUserRejection(decodeImage(bmp, 'huge.bmp'), /^huge\.bmp: the BMP image is too large \(8×30000 pixels\)/)
    })

    it('GIF, screen and first frame', async () => {
      const gif = await encode(
        grayImage(8, 8, () => 1),
        'image/gif',
      )
      gif.writeUInt16LE(10_001, 6)
      await expectUserRejection(decodeImage(gif, 'huge.gif'), /^huge\.gif: the GIF image is too large \(10001×8 pixels\)/)
      // A 1×1 screen whose only frame claims 20000×20000.
      const frameBomb = Buffer.from([
        ...Buffer.from('GIF89a'), 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 255, 255, 255,
        0x21, 0xf9, 4, 0, 0, 0, 0, 0,
        0x2c, 0, 0, 0, 0, 0x20, 0x4e, 0x20, 0x4e, 0, 2, 2, 0x4c, 0x01, 0, 0x3b,
      ]) // prettier-ignore
      await expectUserRejection(decodeImage(frameBomb, 'frame.gif'), /^frame\.gif: the GIF image is too large \(20000×20000 pixels\)/)
    })

    it('TIFF', async () => {
      const tiff = await encode(
        grayImage(8, 8, () => 1),
        'image/tiff',
      )
      const little = tiff.toString('latin1', 0, 2) === 'II'
      const read16 = (at: number) => (little ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at))
      const ifd = little ? tiff.readUInt32LE(4) : tiff.readUInt32BE(4)
      for (let entry = ifd + 2; entry < ifd + 2 + 12 * read16(ifd); entry += 12) {
        if (read16(entry) !== 256) continue
        if (read16(entry + 2) === 3) tiff[little ? 'writeUInt16LE' : 'writeUInt16BE'](50_000, entry + 8)
        else tiff[little ? 'writeUInt32LE' : 'writeUInt32BE'](50_000, entry + 8)
      }

      await expectUserRejection(decodeImage(tiff, 'huge.tif'), /^huge\.tif: the TIFF image is too large \(50000×8 pixels\)/)
    })

    it('has limits that allow a large photo', () => {
      expect(IMAGE_LIMITS.maxPixels).to.be.at.least(4000 * 3000)
    })
  })

  it('applies the EXIF orientation of a JPEG', async () => {
    // Left half black: after "rotate 90° clockwise" (orientation 6) the top half is black.
    const jpeg = await encode(
      grayImage(40, 20, (x) => (x < 20 ? 0 : 1)),
      'image/jpeg',
    )
    const exif = (orientation: number) => {
      const tiff = Buffer.from([0x4d, 0x4d, 0, 0x2a, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0, 0, 0, 0, 0])
      const segment = Buffer.concat([Buffer.from([0xff, 0xe1, 0, 0]), Buffer.from('Exif\0\0', 'latin1'), tiff])
      segment.writeUInt16BE(segment.length - 2, 2)
      return Buffer.concat([jpeg.subarray(0, 2), segment, jpeg.subarray(2)])
    }

    const rotated = await decodeImage(exif(6), 'photo.jpg')
    expect([rotated.width, rotated.height]).to.deep.equal([20, 40])
    expect(rotated.data[5 * 20 + 10]).to.be.below(0.1)
    expect(rotated.data[35 * 20 + 10]).to.be.above(0.9)
    const upsideDown = await decodeImage(exif(3), 'photo.jpg')
    expect([upsideDown.width, upsideDown.height]).to.deep.equal([40, 20])
    expect(upsideDown.data[10 * 40 + 5]).to.be.above(0.9)
    expect(upsideDown.data[10 * 40 + 35]).to.be.below(0.1)
    // A nonsense orientation is ignored.
    const stored = await decodeImage(exif(77), 'photo.jpg')
    expect(stored.data[10 * 40 + 5]).to.be.below(0.1)
  })

  it('turns transparency into paper that contrasts with the strokes', async () => {
    const stroke = (x: number, y: number) => x >= 10 && x < 14 && y >= 5 && y < 35
    // Black strokes on a transparent (black) background, as canvas exports often are.
    const dark = await encode(
      rgbaImage(40, 40, (x, y) => (stroke(x, y) ? [0, 0, 0, 255] : [0, 0, 0, 0])),
      'image/png',
    )
    const light = await encode(
      rgbaImage(40, 40, (x, y) => (stroke(x, y) ? [255, 255, 255, 255] : [0, 0, 0, 0])),
      'image/png',
    )
    const opaque = await encode(
      grayImage(40, 40, (x, y) => (stroke(x, y) ? 0 : 1)),
      'image/png',
    )
    const expected = (await preprocessBytes(opaque, 'opaque.png', {preprocess: true})).pixels
    expect(Math.max(...expected)).to.equal(1)
    expect([...(await preprocessBytes(dark, 'dark.png', {preprocess: true})).pixels]).to.deep.equal([...expected])
    expect([...(await preprocessBytes(light, 'light.png', {preprocess: true})).pixels]).to.deep.equal([...expected])
    const clear = await encode(
      rgbaImage(40, 40, () => [0, 0, 0, 0]),
      'image/png',
    )
    expect((await preprocessBytes(clear, 'clear.png', {preprocess: true})).stroke).to.equal(false)
  })
})

describe('orient', () => {
  // a b c
  // d e f
  const image: GrayImage = {width: 3, height: 2, data: Float32Array.of(1, 2, 3, 4, 5, 6)}
  const cases: Array<[number, number, number[]]> = [
    [1, 3, [1, 2, 3, 4, 5, 6]],
    [2, 3, [3, 2, 1, 6, 5, 4]],
    [3, 3, [6, 5, 4, 3, 2, 1]],
    [4, 3, [4, 5, 6, 1, 2, 3]],
    [5, 2, [1, 4, 2, 5, 3, 6]],
    [6, 2, [4, 1, 5, 2, 6, 3]],
    [7, 2, [6, 3, 5, 2, 4, 1]],
    [8, 2, [3, 6, 2, 5, 1, 4]],
  ]
  for (const [orientation, width, data] of cases) {
    it(`orientation ${orientation}`, () => {
      const out = orient(image, orientation)
      expect(out.width).to.equal(width)
      expect(out.height).to.equal(6 / width)
      expect([...out.data]).to.deep.equal(data)
    })
  }
})

describe('toMnist', () => {
  const asGray = (pixels: readonly number[], invert: boolean): GrayImage => ({
    width: 28,
    height: 28,
    data: Float32Array.from(pixels, (v) => (invert ? 1 - v : v)),
  })

  it('keeps a real MNIST digit as it is, whatever its polarity', () => {
    const whiteOnBlack = toMnist(asGray(five, false), {preprocess: true}).pixels
    const blackOnWhite = toMnist(asGray(five, true), {preprocess: true}).pixels
    expect(whiteOnBlack).to.have.length(784)
    expect(correlation(whiteOnBlack, five)).to.be.above(0.9)
    for (let i = 0; i < 784; i++) expect(blackOnWhite[i]).to.be.closeTo(whiteOnBlack[i], 1e-6)
  })

  it('fits the ink box to 20 pixels keeping the aspect ratio, centred by mass', () => {
    // A bar 30 wide and 300 tall, off-centre on a 500×500 page.
    const data = Float32Array.from({length: 500 * 500}, (_, i) => {
      const [x, y] = [i % 500, Math.floor(i / 500)]
      return x >= 40 && x < 70 && y >= 150 && y < 450 ? 0 : 1
    })
    const out = toMnist({width: 500, height: 500, data}, {preprocess: true}).pixels
    expect(inkBox(out)).to.deep.equal({width: 2, height: 20})
    const [x, y] = centreOfMass(out)
    expect(Math.abs(x - 14)).to.be.at.most(0.5)
    expect(Math.abs(y - 14)).to.be.at.most(0.5)
  })

  it('keeps a thin stroke drawn on a 1000-pixel canvas', () => {
    // A ring 6 pixels wide, 800 across: 0.15 output pixels wide after scaling.
    const size = 1000
    const data = new Float32Array(size * size)
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) data[y * size + x] = Math.abs(Math.hypot(x - 500, y - 500) - 400) < 3 ? 0 : 1
    }

    const out = toMnist({width: size, height: size, data}, {preprocess: true}).pixels
    const [cx, cy] = centreOfMass(out)
    expect(out[Math.round(cy) * 28 + Math.round(cx)]).to.equal(0)
    // Every direction crosses the ring visibly.
    for (let degrees = 0; degrees < 360; degrees += 10) {
      const angle = (degrees * Math.PI) / 180
      let strongest = 0
      for (let r = 6; r <= 12; r += 0.25) {
        const x = Math.round(cx + r * Math.cos(angle))
        const y = Math.round(cy + r * Math.sin(angle))
        strongest = Math.max(strongest, out[y * 28 + x])
      }

      expect(strongest, `at ${degrees}°`).to.be.above(0.3)
    }
  })

  it('enlarges a small digit smoothly', () => {
    // 14×14: every other MNIST pixel, so the ink box is about 10 and gets enlarged to 20.
    const small = Array.from({length: 196}, (_, i) => eight[Math.floor(i / 14) * 2 * 28 + (i % 14) * 2])
    const out = toMnist({width: 14, height: 14, data: Float32Array.from(small, (v) => 1 - v)}, {preprocess: true}).pixels
    expect(Math.max(inkBox(out, 0).width, inkBox(out, 0).height)).to.equal(20)
    expect(correlation(out, eight)).to.be.above(0.8)
  })

  it('drops faint background noise', () => {
    const rng = new Rng(5)
    const clean = asGray(eight, true)
    const noisy: GrayImage = {...clean, data: clean.data.map((v) => Math.min(1, Math.max(0, v - 0.08 * rng.next())))}
    const out = toMnist(noisy, {preprocess: true}).pixels
    expect(correlation(out, toMnist(clean, {preprocess: true}).pixels)).to.be.above(0.98)
  })

  it('finds no stroke in an image without ink', () => {
    const white = toMnist({width: 50, height: 50, data: new Float32Array(2500).fill(1)}, {preprocess: true, name: 'white.png'})
    expect(white.stroke).to.equal(false)
    expect(white.pixels.every((v) => v === 0)).to.equal(true)
    const rng = new Rng(9)
    const speckled = Float32Array.from({length: 2500}, () => 0.9 + 0.05 * rng.next())
    expect(toMnist({width: 50, height: 50, data: speckled}, {preprocess: true}).stroke).to.equal(false)
    expect(toMnist(asGray(eight, true), {preprocess: true}).stroke).to.equal(true)
  })

  it('without preprocess, only resizes: area average, no inversion', () => {
    // 56×56 made of 2×2 blocks: each output pixel is its block.
    const pattern = Array.from({length: 784}, (_, i) => ((i * 37) % 101) / 100)
    const big: GrayImage = {
      width: 56,
      height: 56,
      data: Float32Array.from({length: 56 * 56}, (_, i) => pattern[Math.floor(i / 112) * 28 + Math.floor((i % 56) / 2)]),
    }
    const out = toMnist(big, {preprocess: false}).pixels
    for (let i = 0; i < 784; i++) expect(out[i]).to.be.closeTo(pattern[i], 1e-6)
    const page = toMnist({width: 10, height: 10, data: new Float32Array(100).fill(1)}, {preprocess: false}).pixels
    expect([...page].every((v) => Math.abs(v - 1) < 1e-6)).to.equal(true)
  })
})

describe('MNIST recipe against a naive resize', () => {
  it('recovers a digit drawn large, dark and off-centre; the naive resize does not', async () => {
    const recipe: number[] = []
    const naive: number[] = []
    const naiveInverted: number[] = []
    for (const label of [0, 5, 8]) {
      for (const index of [0, 1, 2]) {
        const digit = mnistDigit(label, index)
        // 336 pixels across, in a different corner region each time.
        const placement = {canvas: 600, scale: 12, left: 20 + 110 * index, top: 240 - 100 * index, darkOnLight: true}
        const png = await encode(drawDigit(digit, placement), 'image/png')
        recipe.push(correlation((await preprocessBytes(png, 'big.png', {preprocess: true})).pixels, digit))
        const plain = (await preprocessBytes(png, 'big.png', {preprocess: false})).pixels
        naive.push(correlation(plain, digit))
        naiveInverted.push(
          correlation(
            plain.map((v) => 1 - v),
            digit,
          ),
        )
      }
    }

    const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length
    expect(Math.min(...recipe)).to.be.above(0.75)
    expect(mean(recipe)).to.be.above(0.93)
    expect(mean(naive)).to.be.below(0)
    // Even inverted, the plain resize keeps the digit small and off-centre.
    expect(mean(naiveInverted)).to.be.below(0.5)
  })
})
