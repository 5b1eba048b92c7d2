/**
 * Images built to make a decoder loop, allocate gigabytes or work for minutes:
 * a TIFF whose pages loop, a tag claiming 2^30 values, a progressive JPEG of
 * 160,000 scans, a BMP claiming 9999×4000 pixels in 154 bytes. Each is refused
 * from its structure before decoding, in `predict` and in `serve`; and any
 * decode that gets past the checks is still bounded in time and memory by its
 * worker (timeout, heap limit).
 */
import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import {request as httpRequest} from 'node:http'
import {join} from 'node:path'

import {UserError} from '../../src/errors.js'
import {decodeImage, inspectImage} from '../../src/images/preprocess.js'
import {DecodePool, TooManyPixelsError} from '../../src/server/decoder.js'
import type {RunningServer} from '../../src/server/server.js'
import {rejectionOf} from '../helpers/assert.js'
import {ROOT} from '../helpers/fixtures.js'
import {startFixtureServer} from '../server/helpers.js'
import {oneLine, run, sharedRun, tempDir} from './helpers.js'
import {hostileImages, hugeBmp, manyValuesTiff, progressiveScanBomb, selfNestedTiff} from './hostile-images.js'

const SAMPLE = readFileSync(join(ROOT, 'sample.png'))

describe('faults: hostile images', function () {
  this.timeout(180_000)

  describe('the header check refuses them before decoding', () => {
    for (const {name, bytes, reason} of hostileImages()) {
      it(`${name} (${bytes.length.toLocaleString('en-US')} bytes)`, () => {
        expect(() => inspectImage(bytes, name)).to.throw(UserError, reason)
      })
    }

    it('counts the scans of a small progressive JPEG too, where each scan is cheap', () => {
      // One DC scan, then the AC scans asked for.
      expect(() => inspectImage(progressiveScanBomb(500, 64), 'many.jpg')).to.throw(UserError, /refused: it has more than 500 scans/)
      expect(inspectImage(progressiveScanBomb(499, 64), 'enough.jpg')).to.include({width: 64, height: 64})
    })
  })

  describe('what passes the check still decodes', () => {
    it('a progressive JPEG of a few scans', async () => {
      const image = await decodeImage(progressiveScanBomb(10, 64, 48), 'progressive.jpg')
      expect(image).to.include({width: 64, height: 48})
    })

    it('a TIFF whose EXIF directory is its own page: only the page is read, not the loop', async () => {
      const image = await decodeImage(selfNestedTiff(), 'nested.tif')
      expect(image).to.include({width: 1, height: 1})
    })
  })

  describe('each decode is bounded by its worker', () => {
    it('stops a decode that outlives the timeout, and replaces the worker', async () => {
      const pool = new DecodePool({workers: 1, maxPixels: 40_000_000, timeoutMs: 100})
      try {
        // Within the scan limits (32 passes over 40 megapixels), so decoded: seconds of work.
        const slow = progressiveScanBomb(31, 10_000, 4000)
        expect(inspectImage(slow, 'slow.jpg').pixels).to.equal(40_000_000)
        const error = await rejectionOf(pool.decode(slow, 'slow.jpg', false), UserError)
        expect(error.message).to.match(/^slow\.jpg: decoding took longer than 0\.1 s and was stopped; .*re-export it/)
        expect(pool.pending).to.deep.equal({jobs: 0, pixels: 0})
      } finally {
        await pool.close()
      }

      // A new pool with room for the sample's first decode (loading its decoder) on a busy machine.
      const roomy = new DecodePool({workers: 1, maxPixels: 40_000_000, timeoutMs: 60_000})
      try {
        expect(() => roomy.decode(progressiveScanBomb(40), 'scans.jpg', false)).to.throw(UserError, /passes over its pixels/)
        expect((await roomy.decode(SAMPLE, 'sample.png', true)).pixels).to.have.length(784)
      } finally {
        await roomy.close()
      }
    })

    it('stops a decode that fills its heap, answering "too large", and the next image decodes', async () => {
      const pool = new DecodePool({workers: 1, maxPixels: 40_000_000, heapMb: 48, timeoutMs: 120_000})
      try {
        // 2 million values of 8 bytes, all inside the file: past the header check, but each parsed into a small array.
        const error = await rejectionOf(pool.decode(manyValuesTiff(2_000_000), 'tags.tif', false), TooManyPixelsError)
        expect(error.message).to.equal('tags.tif: decoding needed more than 48 MB of memory and was stopped; shrink the image or re-export it')
        expect((await pool.decode(SAMPLE, 'sample.png', true)).pixels).to.have.length(784)
      } finally {
        await pool.close()
      }
    })
  })

  describe('a worker that fills its heap stops alone', () => {
    it('24 such decodes, 4 at once, end with "too large" each, and the process that runs them lives on', async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'heap-child.ts'), '4', '6'], {stdio: ['ignore', 'pipe', 'pipe']})
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])))
      // Before the workers' young generation was bounded, V8 aborted the process about every other run: "FATAL ERROR: Reached heap limit".
      expect({code, signal}, stderr).to.deep.equal({code: 0, signal: null})
      const answers = stdout.trimEnd().split('\n')
      expect(answers).to.have.length(24)
      for (const answer of answers)
        expect(answer).to.equal('TooManyPixelsError: tags.tif: decoding needed more than 48 MB of memory and was stopped; shrink the image or re-export it')
    })
  })

  describe('predict', () => {
    let ckpt: string
    let dir: string
    before(async () => {
      ckpt = join(await sharedRun(), 'best.ckpt')
      dir = tempDir('hostile')
      for (const {name, bytes} of hostileImages()) writeFileSync(join(dir, name), bytes)
    })

    for (const {name, reason} of hostileImages()) {
      it(`ends with one line on ${name}`, async () => {
        const result = await run(['predict', '--checkpoint-path', ckpt, '--input-path', join(dir, name)], {killAfterMs: 90_000})
        expect(result.stdout).to.equal('')
        expect(oneLine(result)).to.match(reason)
      })
    }

    it('exits after its error on the huge BMP every time (it used to hang in exit now and then)', async () => {
      const runs = await Promise.all(
        Array.from({length: 6}, () => run(['predict', '--checkpoint-path', ckpt, '--input-path', join(dir, 'huge.bmp')], {killAfterMs: 90_000})),
      )
      for (const result of runs) expect(oneLine(result)).to.match(/huge\.bmp: the BMP image is corrupt or truncated/)
    })
  })

  describe('serve', () => {
    let server: RunningServer
    before(async () => {
      server = await startFixtureServer(tempDir('hostile-serve'), {checkpointPath: join(await sharedRun(), 'best.ckpt'), decodeWorkers: 2})
    })
    after(async () => server?.close())

    const predict = (body: BodyInit, type: string) => fetch(`${server.url}/api/predict`, {method: 'POST', headers: {'content-type': type}, body})

    it('answers 400 to each hostile upload, and the next normal one 200', async () => {
      for (const {name, bytes, reason} of hostileImages()) {
        const response = await predict(new Uint8Array(bytes), 'application/octet-stream')
        const {error} = (await response.json()) as {error: string}
        expect(response.status, name).to.equal(400)
        expect(error, name).to.match(reason)
      }

      const response = await predict(new Uint8Array(SAMPLE), 'image/png')
      expect(response.status).to.equal(200)
    })

    /**
     * The first 128 KiB of a body that is 5 MB long, and then nothing: the
     * answer, or undefined if none came within `waitMs` (the server waiting
     * for the rest, as it did before it judged the first bytes).
     */
    async function answerToFirstBytes(bytes: Buffer, waitMs: number): Promise<{status: number; error: string} | undefined> {
      const {hostname, port} = new URL(server.url)
      const request = httpRequest({
        hostname,
        port,
        path: '/api/predict',
        method: 'POST',
        headers: {'content-type': 'application/octet-stream', 'content-length': bytes.length},
      })
      try {
        return await new Promise((resolve, reject) => {
          const timer = setTimeout(() => resolve(undefined), waitMs)
          request.once('error', reject)
          request.once('response', (response) => {
            const chunks: Buffer[] = []
            response.on('data', (chunk: Buffer) => chunks.push(chunk))
            response.once('end', () => {
              clearTimeout(timer)
              resolve({status: response.statusCode!, error: (JSON.parse(Buffer.concat(chunks).toString()) as {error: string}).error})
            })
          })
          request.write(bytes.subarray(0, 128 * 1024))
        })
      } finally {
        request.destroy()
      }
    }

    it('refuses the 5 MB scan bomb, and 5 MB that are not an image, from their first bytes, before the rest arrives', async () => {
      const {bytes, reason} = hostileImages().find(({name}) => name === 'scans.jpg')!
      const bomb = await answerToFirstBytes(bytes, 10_000)
      expect(bomb?.status).to.equal(400)
      expect(bomb?.error).to.match(reason)
      const zeros = await answerToFirstBytes(Buffer.alloc(bytes.length), 10_000)
      expect(zeros).to.deep.equal({status: 400, error: 'uploaded image: not a PNG, JPEG, BMP, GIF or TIFF image; convert it to one of these formats'})
      // The server is not left waiting on those connections: the next upload is answered as usual.
      expect((await predict(new Uint8Array(SAMPLE), 'image/png')).status).to.equal(200)
    })

    it('waits for the whole body when its first bytes are a plausible image', async () => {
      // A BMP header claiming 1000×1000 pixels, its rows still on their way: only the whole file can say it is cut short.
      expect(await answerToFirstBytes(hugeBmp(1000, 1000, 5_000_000), 2000)).to.equal(undefined)
    })

    it('cuts off an image streamed without a length (chunked) at the upload limit', async () => {
      let sent = 0
      // A plausible BMP header first, so that only the limit stops it.
      const start = hugeBmp(1000, 1000, 64 * 1024)
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.enqueue(sent === 0 ? new Uint8Array(start) : new Uint8Array(64 * 1024))
          sent += 64 * 1024
          if (sent > 512 * 1024 * 1024) controller.close()
        },
      })
      const response = await fetch(`${server.url}/api/predict`, {
        method: 'POST',
        headers: {'content-type': 'application/octet-stream'},
        body,
        duplex: 'half',
      } as RequestInit)
      expect(response.status).to.equal(413)
      expect(((await response.json()) as {code: string}).code).to.equal('too-large')
      expect(sent).to.be.below(64 * 1024 * 1024)
    })

    it('answers 400 on the huge BMP, sent as a data URI, with the reason', async () => {
      const image = `data:image/bmp;base64,${hugeBmp().toString('base64')}`
      const response = await predict(JSON.stringify({image, log: false}), 'application/json')
      expect(response.status).to.equal(400)
      expect(((await response.json()) as {error: string}).error).to.match(/^canvas drawing: the BMP image is corrupt or truncated \(its 9999×4000 pixels need/)
    })

    it('tells bad base64 in a data URI from an empty file', async () => {
      const bad = await predict(JSON.stringify({image: 'data:image/png;base64,iVBORw0K#GgoAAAANSUhEUg'}), 'application/json')
      expect(bad.status).to.equal(400)
      expect(((await bad.json()) as {error: string}).error).to.equal(
        'canvas drawing: the data URI is not valid base64 ("#" at character 9); send the image\'s bytes, base64-encoded',
      )
      const empty = await predict(JSON.stringify({image: 'data:image/png;base64,'}), 'application/json')
      expect(empty.status).to.equal(400)
      expect(((await empty.json()) as {error: string}).error).to.match(/^canvas drawing: the data URI holds no image data after "base64,"/)
    })
  })
})
