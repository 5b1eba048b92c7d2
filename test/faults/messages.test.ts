/**
 * The battery's misleading messages, each in its corrected words: a mirror
 * that serves other bytes, a batch size beyond 2^53, a checkpoint whose split
 * ratios are impossible (not a flag the user gave).
 */
import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {MNIST_FILES} from '../../src/config.js'
import {UserError} from '../../src/errors.js'
import {openStore} from '../../src/server/store/index.js'
import {rejectionOf} from '../helpers/assert.js'
import {FIXTURE_DIR, ROOT} from '../helpers/fixtures.js'
import {startTestServer} from '../helpers/http-server.js'
import {SMALL_COUNTS, oneLine, run, sharedRun, tempDir} from './helpers.js'

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
    const line = oneLine(await run(['train', '--data-dir', FIXTURE_DIR, '--output-dir', tempDir('batch'), '--class-counts', SMALL_COUNTS, '--batch-size', '99999999999999999999']))
    expect(line).to.match(/--batch-size: .*whole number from 1 to 4096/)
    expect(line).to.not.include('9007199254740991')
  })

  it('a checkpoint with an impossible eval ratio is reported as the checkpoint\'s fault, not as --eval-ratio', async () => {
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
      expect(error.message).to.equal('--database-url is not a valid URL; use postgres://user:password@host:5432/db, with special characters of the password percent-encoded')
      expect(error.message).to.not.include('secret')
    }
  })
})
