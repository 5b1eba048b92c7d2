import {expect} from 'chai'

import {DecodePool, DecoderBusyError, TooManyPixelsError} from '../../src/server/decoder.js'
import type {RunningServer} from '../../src/server/index.js'
import {grayPng} from '../../src/images/png.js'
import {startFixtureServer, tempDir, trainedCheckpoint} from './helpers.js'

/** A square PNG of `size` pixels a side with a ring of ink in the middle: a large but real image. */
function ringPng(size: number): Buffer {
  const pixels = new Float32Array(size * size)
  const centre = size / 2
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const r = Math.hypot(x - centre, y - centre) / size
      if (r > 0.2 && r < 0.28) pixels[y * size + x] = 1
    }
  }

  return grayPng(pixels, size)
}

/** The first bytes of a baseline JPEG that says it is width×height: enough for the header check, never decoded. */
function jpegHeader(width: number, height: number): Buffer {
  const sof = Buffer.from([0xff, 0xc0, 0x00, 0x11, 0x08, height >> 8, height & 0xff, width >> 8, width & 0xff, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1])
  return Buffer.concat([Buffer.from([0xff, 0xd8]), sof, Buffer.alloc(64)])
}

describe('image decoding off the event loop', function () {
  this.timeout(120_000)

  describe('the decode pool', () => {
    let pool: DecodePool
    afterEach(async () => pool?.close())

    it('refuses an image over the pixel budget from its header, before decoding', () => {
      pool = new DecodePool({maxPixels: 24_000_000, workers: 1})
      expect(() => pool.decode(jpegHeader(6000, 6000), 'big.jpg', true)).to.throw(
        TooManyPixelsError,
        /6000×6000 pixels, more than this server decodes \(24 megapixels\)/,
      )
      expect(pool.pending).to.deep.equal({jobs: 0, pixels: 0})
    })

    it('admits images up to its pending-pixel bound and refuses the next one as busy, with a retry delay', async () => {
      const png = ringPng(1000)
      pool = new DecodePool({maxPixels: 1_000_000, maxPendingPixels: 3_000_000, workers: 1})
      const admitted = [1, 2, 3].map(() => pool.decode(png, 'ring.png', true))
      let busy: unknown
      try {
        await pool.decode(png, 'ring.png', true)
      } catch (error) {
        busy = error
      }

      expect(busy).to.be.instanceOf(DecoderBusyError)
      expect((busy as DecoderBusyError).retryAfterSeconds).to.be.within(1, 30)
      const results = (await Promise.all(admitted)).map((input) => input.pixels)
      for (const pixels of results) expect(pixels).to.have.length(784)
      // The same image decoded off the loop gives the same 784 values each time, with ink in them.
      expect(results[1]).to.deep.equal(results[0])
      expect(Math.max(...results[0])).to.equal(1)
      expect(pool.pending).to.deep.equal({jobs: 0, pixels: 0})
      // Room again once answered.
      expect((await pool.decode(png, 'ring.png', true)).pixels).to.have.length(784)
    })

    it('reports a corrupt image in one line, as predict does', async () => {
      pool = new DecodePool({maxPixels: 1_000_000, workers: 1})
      const png = ringPng(100)
      const cut = Buffer.concat([png.subarray(0, 60), Buffer.alloc(40)])
      let message = ''
      try {
        await pool.decode(cut, 'cut.png', true)
      } catch (error) {
        message = (error as Error).message
      }

      expect(message).to.match(/^cut\.png: could not decode the PNG image/)
      expect(message).to.not.include('\n')
    })
  })

  describe('over HTTP', () => {
    let server: RunningServer
    let temp: Awaited<ReturnType<typeof tempDir>>

    before(async () => {
      temp = await tempDir()
      server = await startFixtureServer(temp.dir, {checkpointPath: await trainedCheckpoint(), maxImagePixels: 4_000_000, decodeWorkers: 1})
    })

    after(async () => {
      await server?.close()
      await temp?.remove()
    })

    it('answers 413 for an image whose header says it is too large, and logs nothing', async () => {
      const before = await server.store.count()
      const response = await fetch(`${server.url}/api/predict`, {
        method: 'POST',
        headers: {'content-type': 'image/jpeg'},
        body: new Uint8Array(jpegHeader(6000, 6000)),
      })
      expect(response.status).to.equal(413)
      expect(((await response.json()) as {error: string}).error).to.match(/6000×6000 pixels, more than this server decodes \(4 megapixels\); shrink it first/)
      expect(await server.store.count()).to.equal(before)
    })

    it('answers 503 with Retry-After to uploads beyond what it can decode at once, and every other one normally', async () => {
      const png = new Uint8Array(ringPng(2000))
      const before = await server.store.count()
      const answers = await Promise.all(
        Array.from({length: 8}, () => fetch(`${server.url}/api/predict`, {method: 'POST', headers: {'content-type': 'image/png'}, body: png})),
      )
      const busy = answers.filter((answer) => answer.status === 503)
      const ok = answers.filter((answer) => answer.status === 200)
      expect(busy.length).to.be.greaterThan(0)
      expect(ok.length + busy.length).to.equal(8)
      expect(Number(busy[0].headers.get('retry-after'))).to.be.within(1, 30)
      expect(((await busy[0].json()) as {error: string}).error).to.match(/busy decoding other images; try again/)
      for (const answer of ok) expect(((await answer.json()) as {prediction: number}).prediction).to.be.oneOf([0, 5, 8])
      expect(await server.store.count()).to.equal(before + ok.length)
    })
  })
})
