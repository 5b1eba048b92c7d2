import {createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'

import {ApiPredictionSchema, PredictAnswerSchema} from '../../src/artifacts/answer.js'
import {PIXELS} from '../../src/config.js'
import {KNOWN_RATE} from '../../src/evaluation/openset.js'
import {decodeCheckpoint, encodeCheckpoint, loadCheckpoint} from '../../src/model/checkpoint.js'
import {type RunningServer} from '../../src/server/index.js'
import {grayPng} from '../../src/images/png.js'
import {cli} from '../helpers/cli.js'
import {FIXTURE_DIR, readFixture} from '../helpers/fixtures.js'
import {drawDigit, encode, grayImage, mnistDigit} from '../images/draw.js'
import {startFixtureServer, tempDir} from '../server/helpers.js'

const COUNTS = '8=140,0=48,5=12'

/** The checkpoint file with its header's `open_set` key removed, as checkpoints written before it existed (digest recomputed). */
function withoutOpenSet(bytes: Buffer): Buffer {
  const length = bytes.readUInt32LE(8)
  const header = JSON.parse(bytes.subarray(12, 12 + length).toString('utf8')) as Record<string, unknown>
  delete header.open_set
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8')
  const size = Buffer.alloc(4)
  size.writeUInt32LE(headerBytes.length, 0)
  const body = Buffer.concat([bytes.subarray(0, 8), size, headerBytes, bytes.subarray(12 + length, bytes.length - 32)])
  return Buffer.concat([body, createHash('sha256').update(body).digest()])
}

describe('answers that say when they do not know', function () {
  this.timeout(300_000)
  let dir: string
  let posthoc: string
  let reject: string
  let blank: string
  let drawn: string
  let other: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'open-set-'))
    const train = (name: string, ...extra: string[]) =>
      cli(['train', '--data-dir', FIXTURE_DIR, '--output-dir', join(dir, name), '--class-counts', COUNTS, '--epochs', '3', '--num-workers', '1', ...extra])
    const [a, b] = [await train('posthoc'), await train('reject', '--reject', 'other-digits')]
    expect(a.code, a.stderr).to.equal(0)
    expect(b.code, b.stderr).to.equal(0)
    expect(b.stderr).to.match(/open set: reject head on \d+ other digits of the training file, threshold/)
    posthoc = join(dir, 'posthoc', 'best.ckpt')
    reject = join(dir, 'reject', 'best.ckpt')
    // Real images: white paper, and digits drawn dark on light as a user's drawing or scan is.
    blank = join(dir, 'blank.png')
    writeFileSync(
      blank,
      await encode(
        grayImage(200, 200, () => 1),
        'image/png',
      ),
    )
    drawn = join(dir, 'eight.png')
    writeFileSync(drawn, await encode(drawDigit(mnistDigit(8, 3), {canvas: 200, scale: 6, left: 20, top: 10, darkOnLight: true}), 'image/png'))
    other = join(dir, 'one.png')
    writeFileSync(other, await encode(drawDigit(mnistDigit(1, 3), {canvas: 200, scale: 6, left: 20, top: 10, darkOnLight: true}), 'image/png'))
  })

  it('stores the decision fitted on the validation split in best.ckpt, and config.json records --reject', async () => {
    const [plain, head] = await Promise.all([loadCheckpoint(posthoc), loadCheckpoint(reject)])
    expect(plain.header.openSet).to.include({score: 'max_softmax', knownRate: KNOWN_RATE, fittedOn: 'val', rejectHead: null})
    expect(plain.header.openSet?.valKnownRate).to.be.at.least(KNOWN_RATE)
    expect(head.header.openSet).to.include({score: 'reject_head', knownRate: KNOWN_RATE, fittedOn: 'val'})
    // One weight per feature the last layer reads (SPEC CNN: 7 × 7 × 32); the fixture's 280 other digits as negatives.
    expect(head.header.openSet?.rejectHead?.weights).to.have.length(1568)
    // Positives: the training split (200 − 40 evaluation − 24 validation).
    expect(head.header.openSet?.rejectHead).to.include({negatives: 280, positives: 136})
    expect(JSON.parse(readFileSync(join(dir, 'reject', 'config.json'), 'utf8'))).to.include({reject: 'other-digits'})
    expect(JSON.parse(readFileSync(join(dir, 'posthoc', 'config.json'), 'utf8'))).to.include({reject: 'none'})
    // The fit end reads the network and never changes it: the same weights either way.
    for (const name of Object.keys(plain.values))
      expect(Buffer.from(plain.values[name].buffer).equals(Buffer.from(head.values[name].buffer)), name).to.equal(true)
  })

  it('round-trips the threshold and the reject head through the file, and reads a checkpoint written before them', () => {
    const bytes = readFileSync(reject)
    const decoded = decodeCheckpoint(bytes, 'best.ckpt')
    const again = decodeCheckpoint(encodeCheckpoint(decoded.header, decoded.values, decoded.optimizer), 'again.ckpt')
    expect(again.header.openSet).to.deep.equal(decoded.header.openSet)
    const fileHeader = JSON.parse(bytes.subarray(12, 12 + bytes.readUInt32LE(8)).toString('utf8'))
    expect(fileHeader.open_set).to.include({score: 'reject_head', fitted_on: 'val', known_rate: KNOWN_RATE})
    expect(fileHeader.open_set.threshold).to.equal(decoded.header.openSet?.threshold)
    expect(decodeCheckpoint(withoutOpenSet(bytes), 'old.ckpt').header.openSet).to.equal(null)
  })

  it('predict answers a blank image as "no digit" instead of refusing it, with probs and prediction kept', async () => {
    const run = await cli(['predict', '--checkpoint-path', reject, '--input-path', blank])
    expect(run.code, run.stderr).to.equal(0)
    const answer = JSON.parse(run.stdout)
    expect(Object.keys(answer)).to.deep.equal(['probs', 'prediction', 'confidence', 'known', 'reason'])
    expect(PredictAnswerSchema.strict().safeParse(answer).success).to.equal(true)
    expect(answer).to.include({known: false, reason: 'no digit'})
    expect(Object.keys(answer.probs)).to.deep.equal(['0', '5', '8'])
    expect(answer.confidence).to.equal(answer.probs[String(answer.prediction)])
  })

  it('predict answers a drawn 8 as known and a drawn 1 as "not one of 0, 5, 8" with the reject head', async () => {
    const run = await cli(['predict', '--checkpoint-path', reject, '--input-path', drawn, '--input-path', other, '--json'])
    expect(run.code, run.stderr).to.equal(0)
    const [eight, one] = JSON.parse(run.stdout)
    expect(eight).to.deep.include({prediction: 8, known: true})
    expect(eight).to.not.have.property('reason')
    expect(eight.confidence).to.be.within(0, 1)
    expect(one).to.deep.include({known: false, reason: 'not one of 0, 5, 8'})
  })

  it('a checkpoint without a stored decision answers every image with a stroke as known, and a blank one as "no digit"', async () => {
    const old = join(dir, 'old.ckpt')
    writeFileSync(old, withoutOpenSet(readFileSync(reject)))
    const run = await cli(['predict', '--checkpoint-path', old, '--input-path', other, '--input-path', blank, '--json'])
    expect(run.code, run.stderr).to.equal(0)
    const [one, empty] = JSON.parse(run.stdout)
    expect(one).to.include({known: true})
    expect(empty).to.include({known: false, reason: 'no digit'})
    const evaluation = await cli(['evaluate', '--checkpoint-path', old, '--data-dir', FIXTURE_DIR, '--split', 'val'])
    expect(evaluation.code, evaluation.stderr).to.equal(0)
    expect(evaluation.stdout).to.match(/open set: none stored in this checkpoint/)
  })

  it('evaluate reports the known-rate of its split (text and --json): at least 95% on the validation split it was fitted on', async () => {
    const json = await cli(['evaluate', '--checkpoint-path', reject, '--data-dir', FIXTURE_DIR, '--split', 'val', '--json'])
    expect(json.code, json.stderr).to.equal(0)
    const {open_set: openSet} = JSON.parse(json.stdout)
    const stored = (await loadCheckpoint(reject)).header.openSet
    expect(openSet).to.deep.equal({score: 'reject_head', threshold: stored?.threshold, known_rate: stored?.valKnownRate})
    expect(openSet.known_rate).to.be.at.least(KNOWN_RATE)
    const text = await cli(['evaluate', '--checkpoint-path', posthoc, '--data-dir', FIXTURE_DIR, '--split', 'eval'])
    expect(text.code, text.stderr).to.equal(0)
    expect(text.stdout).to.match(/open set \(max_softmax, threshold [\d.]+ fitted on val\) {2}known-rate \d+\.\d\d% of 40 images/)
  })

  it('train refuses --reject other-digits for a model of all ten digits, in one line', async () => {
    const run = await cli(['train', '--data-dir', FIXTURE_DIR, '--output-dir', join(dir, 'ten'), '--classes', '0-9', '--reject', 'other-digits'])
    expect(run.code).to.not.equal(0)
    expect(run.stderr.trim()).to.match(/--reject: other-digits needs digits the model does not know, and it knows all ten; use none$/)
  })

  describe('the web API', () => {
    let server: RunningServer
    let temp: Awaited<ReturnType<typeof tempDir>>
    const post = (body: Buffer) => fetch(`${server.url}/api/predict`, {method: 'POST', headers: {'content-type': 'image/png'}, body: new Uint8Array(body)})

    before(async () => {
      temp = await tempDir()
      server = await startFixtureServer(temp.dir, {checkpointPath: reject})
    })

    after(async () => {
      await server.close()
      await temp.remove()
    })

    it('answers a blank image 200 with known false, reason "no digit", and logs it', async () => {
      const response = await post(readFileSync(blank))
      expect(response.status).to.equal(200)
      const body = (await response.json()) as Record<string, unknown>
      expect(body).to.include({known: false, reason: 'no digit'})
      expect(ApiPredictionSchema.strict().safeParse(body).error).to.equal(undefined)
      expect(body.confidence).to.be.a('number')
      expect(await server.store.get(body.id as number)).to.not.equal(undefined)
    })

    it('answers a drawn 8 as known and a drawn 1 as not one of its digits', async () => {
      const eight = (await (await post(readFileSync(drawn))).json()) as Record<string, unknown>
      expect(eight).to.include({prediction: 8, known: true})
      expect(eight).to.not.have.property('reason')
      const one = (await (await post(readFileSync(other))).json()) as Record<string, unknown>
      expect(one).to.include({known: false, reason: 'not one of 0, 5, 8'})
    })

    it('answers a fixture digit of its own classes as known', async () => {
      const {images, labels} = await readFixture()
      const index = labels.indexOf(0)
      const pixels = Float32Array.from(images.pixels.subarray(index * PIXELS, (index + 1) * PIXELS), (v) => v / 255)
      const body = (await (await post(grayPng(pixels))).json()) as Record<string, unknown>
      expect(body).to.include({prediction: 0, known: true})
    })
  })
})
