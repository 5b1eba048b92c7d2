/**
 * The battery's misleading messages, each in its corrected words: a mirror
 * that serves other bytes, a batch size beyond 2^53, a checkpoint whose split
 * ratios are impossible (not a flag the user gave).
 */
import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {MNIST_FILES} from '../../src/config.js'
import {UserError} from '../../src/errors.js'
import {openStore} from '../../src/server/store/index.js'
import {rejectionOf} from '../helpers/assert.js'
import {FIXTURE_DIR, ROOT} from '../helpers/fixtures.js'
import {startTestServer} from '../helpers/http-server.js'
import {SMALL_COUNTS, oneLine, run, sharedRun, tempDir} from './helpers.js'

/** `file` holding `checkpoint` with its header edited, under a valid checksum (as a hand-crafted file would be). */
function craftedCheckpoint(checkpoint: string, file: string, edit: (header: Record<string, any>) => void): string {
  const bytes = readFileSync(checkpoint)
  const headerLength = bytes.readUInt32LE(8)
  const header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString('utf8'))
  edit(header)
  const json = Buffer.from(JSON.stringify(header))
  const length = Buffer.alloc(4)
  length.writeUInt32LE(json.length)
  const body = Buffer.concat([bytes.subarray(0, 8), length, json, bytes.subarray(12 + headerLength, bytes.length - 32)])
  writeFileSync(file, Buffer.concat([body, createHash('sha256').update(body).digest()]))
  return file
}

describe('faults: messages that say what happened', function () {
  this.timeout(120_000)

  it('an MD5 mismatch says the mirror serves different bytes, not "try again later"', async () => {
    const server = await startTestServer()
    try {
      server.on(`/${MNIST_FILES.trainImages.name}`, {kind: 'serve', body: Buffer.from('not the MNIST images')})
      const result = await run(['download-data', '--data-dir', join(tempDir('md5'), 'data'), '--source', 'mirrors', '--mirror', server.url, '--retries', '0'])
      const line = oneLine(result)
      expect(line).to.match(/serves different bytes for train-images-idx3-ubyte\.gz than the official file/)
      expect(line).to.not.include('try again later')
    } finally {
      await server.close()
    }
  })

  it('--batch-size 99999999999999999999 names the real limit, 4096', async () => {
    const line = oneLine(
      await run(['train', '--data-dir', FIXTURE_DIR, '--output-dir', tempDir('batch'), '--class-counts', SMALL_COUNTS, '--batch-size', '99999999999999999999']),
    )
    expect(line).to.match(/--batch-size: .*whole number from 1 to 4096/)
    expect(line).to.not.include('9007199254740991')
  })

  for (const [what, edit, expected] of [
    [
      'a calibration temperature of 1e-300',
      (h: Record<string, any>) => (h.calibration = {temperature: 1e-300, fitted_on: 'val', nll_before: 0.1, nll_after: 0.1}),
      /its calibration temperature 1e-300 is outside 0\.05…20/,
    ],
    ['a normalisation std of 1e-300', (h: Record<string, any>) => (h.feature_normalization.std = 1e-300), /its normalisation std 1e-300 is outside/],
    [
      'a reject head that does not fit its network',
      (h: Record<string, any>) =>
        (h.open_set = {...h.open_set, score: 'reject_head', reject_head: {weights: [0.5, -0.5], bias: 0, positives: 1, negatives: 1}}),
      /its reject head weighs 2 features, but its network gives 1568/,
    ],
  ] as const) {
    it(`a checkpoint with ${what} (valid checksum) is refused in one line by predict, evaluate and export; export writes nothing`, async () => {
      const dir = tempDir('crafted')
      const file = craftedCheckpoint(join(await sharedRun(), 'best.ckpt'), join(dir, 'crafted.ckpt'), edit)
      for (const args of [
        ['predict', '--checkpoint-path', file, '--input-path', join(ROOT, 'sample.png')],
        ['evaluate', '--checkpoint-path', file, '--data-dir', FIXTURE_DIR],
        ['export', '--checkpoint-path', file, '--output-dir', join(dir, 'web')],
      ]) {
        const result = await run(args)
        expect(oneLine(result)).to.match(expected)
        expect(result.stdout, args[0]).to.equal('')
      }

      expect(existsSync(join(dir, 'web', 'model.json'))).to.equal(false)
    })
  }

  it('--config: a UTF-8 byte-order mark is accepted; /dev/zero and a huge number get lines that say what is wrong', async () => {
    const dir = tempDir('config')
    const bom = join(dir, 'bom.json')
    writeFileSync(bom, `\uFEFF${JSON.stringify({epochs: 1, class_counts: {0: 24, 5: 12, 8: 70}, num_workers: 1})}`)
    const accepted = await run(['train', '--data-dir', FIXTURE_DIR, '--output-dir', join(dir, 'run'), '--config', bom])
    expect(accepted.code, accepted.stderr).to.equal(0)

    const zero = oneLine(await run(['train', '--data-dir', FIXTURE_DIR, '--output-dir', join(dir, 'zero'), '--config', '/dev/zero']))
    expect(zero).to.equal('Error: --config: cannot read /dev/zero (it is a character device, not a regular file)')

    const huge = join(dir, 'huge.json')
    for (const [key, expected] of [
      ['epochs', 'must be a whole number from 1 to 20 (the CPU budget)'],
      ['patience', 'must be a whole number from 1 to 20'],
      ['seed', 'must be a whole number from 0 to 9007199254740991'],
    ]) {
      writeFileSync(huge, `{"${key}": 1e308}`)
      const line = oneLine(await run(['train', '--data-dir', FIXTURE_DIR, '--output-dir', join(dir, 'huge'), '--config', huge]))
      expect(line).to.equal(`Error: ${huge}: key "${key}": ${key} ${expected}`)
    }
  })

  it('the --class-counts a shortfall suggests is one that trains', async () => {
    const line = oneLine(
      await run(['train', '--data-dir', FIXTURE_DIR, '--output-dir', tempDir('suggest'), '--epochs', '1', '--class-counts', '8=5000,0=2,5=1']),
    )
    const suggested = /use e\.g\. --class-counts (\S+) /.exec(line)?.[1]
    expect(suggested, line).to.equal('0=3,5=3,8=500')
    const result = await run([
      'train',
      '--data-dir',
      FIXTURE_DIR,
      '--output-dir',
      join(tempDir('suggested'), 'run'),
      '--epochs',
      '1',
      '--class-counts',
      suggested!,
      '--num-workers',
      '1',
    ])
    expect(result.code, result.stderr).to.equal(0)
  })

  it("evaluate on data lacking the checkpoint's images names the data, not a --class-counts flag evaluate does not have", async () => {
    // best.ckpt of a run on 8=70,0=24,5=12; a data folder with 10 images of each class.
    const {readFixture} = await import('../helpers/fixtures.js')
    const {encodeIdxImages, encodeIdxLabels} = await import('../../src/data/idx.js')
    const {PIXELS} = await import('../../src/config.js')
    const {images, labels} = await readFixture()
    const keep = [0, 5, 8].flatMap((label) => [...labels.keys()].filter((i) => labels[i] === label).slice(0, 10))
    const pixels = new Uint8Array(keep.length * PIXELS)
    for (const [j, i] of keep.entries()) pixels.set(images.pixels.subarray(i * PIXELS, (i + 1) * PIXELS), j * PIXELS)
    const data = tempDir('few')
    writeFileSync(join(data, 'train-images-idx3-ubyte.gz'), encodeIdxImages(pixels, keep.length))
    writeFileSync(join(data, 'train-labels-idx1-ubyte.gz'), encodeIdxLabels(Uint8Array.from(keep.map((i) => labels[i]))))
    const line = oneLine(await run(['evaluate', '--checkpoint-path', join(await sharedRun(), 'best.ckpt'), '--data-dir', data]))
    expect(line).to.equal(
      `Error: ${data} holds fewer images than the split this checkpoint was trained with (class 0: 24 asked, 10 held; class 5: 12 asked, 10 held; class 8: 70 asked, 10 held); evaluate with the data it was trained on (--data-dir)`,
    )
    expect(line).to.not.include('--class-counts')
  })

  it("a checkpoint with an impossible eval ratio is reported as the checkpoint's fault, not as --eval-ratio", async () => {
    const bytes = readFileSync(join(await sharedRun(), 'best.ckpt'))
    const headerLength = bytes.readUInt32LE(8)
    const header = JSON.parse(bytes.subarray(12, 12 + headerLength).toString('utf8'))
    header.data.eval_ratio = 1.5
    const json = Buffer.from(JSON.stringify(header))
    const length = Buffer.alloc(4)
    length.writeUInt32LE(json.length)
    const body = Buffer.concat([bytes.subarray(0, 8), length, json, bytes.subarray(12 + headerLength, bytes.length - 32)])
    const file = join(tempDir('ratio'), 'ratio.ckpt')
    writeFileSync(file, Buffer.concat([body, createHash('sha256').update(body).digest()]))
    for (const args of [
      ['evaluate', '--checkpoint-path', file, '--data-dir', FIXTURE_DIR],
      ['predict', '--checkpoint-path', file, '--input-path', join(ROOT, 'sample.png')],
    ]) {
      const line = oneLine(await run(args))
      expect(line).to.match(/ratio\.ckpt is not a usable checkpoint: its header is invalid at "data\.eval_ratio"/)
      expect(line).to.not.include('--eval-ratio')
    }
  })
})

describe('faults: messages of the prediction database', () => {
  it('a --database-url that is no URL is named as such, not as "the PostgreSQL database the given database"', async () => {
    for (const url of ['postgres://nobody:secret@127.0.0.1:99999/db', 'postgres://a b@/x']) {
      const error = await rejectionOf(openStore(url, 'unused'), UserError)
      expect(error.message).to.equal(
        '--database-url is not a valid URL; use postgres://user:password@host:5432/db, with special characters of the password percent-encoded',
      )
      expect(error.message).to.not.include('secret')
    }
  })
})
