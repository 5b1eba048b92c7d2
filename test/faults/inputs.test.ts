/**
 * Inputs that are not what they seem: devices, FIFOs, /proc paths, gzip bombs,
 * labels that are not digits, checkpoints with NaN weights, huge and broken
 * images. Each ends in one line and a non-zero exit, quickly, with bounded memory.
 */
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {copyFileSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {createHash} from 'node:crypto'
import {gzipSync} from 'node:zlib'

import {MNIST_FILES} from '../../src/config.js'
import {encodeIdxLabels, parseIdxImages, parseIdxLabels} from '../../src/data/idx.js'
import {UserError} from '../../src/errors.js'
import {loadCheckpoint} from '../../src/model/checkpoint.js'
import {FIXTURE_DIR, ROOT} from '../helpers/fixtures.js'
import {SMALL_COUNTS, oneLine, run, sharedRun, tempDir} from './helpers.js'

describe('faults: inputs that are not regular files or not what they claim', function () {
  this.timeout(120_000)
  let ckpt: string
  before(async () => {
    ckpt = join(await sharedRun(), 'best.ckpt')
  })

  it('predict refuses /dev/zero in one line instead of reading it forever', async () => {
    const line = oneLine(await run(['predict', '--checkpoint-path', ckpt, '--input-path', '/dev/zero'], {killAfterMs: 20_000}))
    expect(line).to.match(/\/dev\/zero: it is a character device, not a regular file; .*"-"/)
  })

  it('predict refuses a FIFO nobody writes to instead of hanging', async () => {
    const dir = tempDir('fifo')
    const fifo = join(dir, 'digit.png')
    execFileSync('mkfifo', [fifo])
    const line = oneLine(await run(['predict', '--checkpoint-path', ckpt, '--input-path', fifo], {killAfterMs: 20_000}))
    expect(line).to.match(/digit\.png: it is a named pipe \(FIFO\), not a regular file/)
    // The same reader guards checkpoints and IDX files.
    const asCheckpoint = oneLine(await run(['predict', '--checkpoint-path', fifo, '--input-path', join(ROOT, 'sample.png')], {killAfterMs: 20_000}))
    expect(asCheckpoint).to.match(/cannot read checkpoint .*digit\.png: it is a named pipe/)
  })

  it('reads /proc files (stat size 0) with a budget instead of trusting their size', async () => {
    const line = oneLine(await run(['predict', '--checkpoint-path', '/proc/self/status', '--input-path', join(ROOT, 'sample.png')], {killAfterMs: 20_000}))
    expect(line).to.match(/status is not a usable checkpoint/)
  })

  it('reports the size limit with numbers that differ: 20 MiB + 1 byte is not "20.0 MiB, the limit is 20.0 MiB"', async () => {
    const dir = tempDir('large')
    const big = join(dir, 'big.png')
    writeFileSync(big, Buffer.alloc(20 * 1024 * 1024 + 1))
    const result = await run(['predict', '--checkpoint-path', ckpt, '--input-path', big])
    const line = oneLine(result)
    expect(line).to.include('too large (20,971,521 bytes, the limit is 20,971,520 bytes)')
  })

  it("a corrupt PNG is reported in our words, not the decoder library's", async () => {
    const dir = tempDir('png')
    const png = readFileSync(join(ROOT, 'sample.png'))
    const broken = Buffer.from(png)
    // Keep the header (size, colour type) intact; damage the compressed pixel data.
    for (let i = 60; i < broken.length - 20; i++) broken[i] = (broken[i] * 7 + 13) & 0xff
    const file = join(dir, 'broken.png')
    writeFileSync(file, broken)
    const line = oneLine(await run(['predict', '--checkpoint-path', ckpt, '--input-path', file]))
    expect(line).to.match(/broken\.png: .*(corrupt|truncated)/)
    expect(line).to.not.match(/waitng|read requests|stream|zlib|inflate/i)
  })

  it('refuses a checkpoint whose weights hold NaN although its checksum is valid', async () => {
    const bytes = readFileSync(ckpt)
    const headerLength = bytes.readUInt32LE(8)
    const body = Buffer.from(bytes.subarray(0, bytes.length - 32))
    // The first float of the first tensor becomes NaN; the SHA-256 trailer is recomputed so only the values are wrong.
    body.writeFloatLE(Number.NaN, 12 + headerLength)
    const dir = tempDir('nan')
    const file = join(dir, 'nan.ckpt')
    writeFileSync(file, Buffer.concat([body, createHash('sha256').update(body).digest()]))
    const result = await run(['predict', '--checkpoint-path', file, '--input-path', join(ROOT, 'sample.png')])
    expect(result.stdout).to.equal('')
    expect(oneLine(result)).to.match(/nan\.ckpt is not a usable checkpoint: tensor \S+ holds NaN or infinite values/)
    let error: unknown
    await loadCheckpoint(file).catch((e: unknown) => (error = e))
    expect(error).to.be.instanceOf(UserError)
  })

  it('stops inflating a gzip bomb at the size its IDX header announces', () => {
    // 8 labels announced, 64 MiB of zeros inflated: the old reader inflated all of it before complaining.
    const header = Buffer.alloc(8)
    header.writeUInt32BE(0x0801, 0)
    header.writeUInt32BE(8, 4)
    const bomb = gzipSync(Buffer.concat([header, Buffer.alloc(64 * 1024 * 1024)]), {level: 9})
    expect(bomb.length).to.be.below(100_000)
    const before = process.memoryUsage().arrayBuffers
    expect(() => parseIdxLabels(bomb, 'train-labels-idx1-ubyte.gz')).to.throw(UserError, /inflates to more than the 16 bytes its header promises/)
    expect(process.memoryUsage().arrayBuffers - before).to.be.below(16 * 1024 * 1024)
  })

  it('refuses a header that announces more data than any MNIST file, before inflating', () => {
    const header = Buffer.alloc(16)
    header.writeUInt32BE(0x0803, 0)
    header.writeUInt32BE(5_000_000, 4)
    header.writeUInt32BE(28, 8)
    header.writeUInt32BE(28, 12)
    expect(() => parseIdxImages(gzipSync(header), 'train-images-idx3-ubyte.gz')).to.throw(
      UserError,
      /header announces 3738\.\d MiB of data, more than any MNIST file/,
    )
  })

  it('refuses labels outside 0–9 instead of silently skipping them', async () => {
    expect(() => parseIdxLabels(encodeIdxLabels(Uint8Array.of(0, 5, 200, 8)), 'labels.gz')).to.throw(UserError, /label 200 at position 2 is not a digit 0–9/)
    const dir = tempDir('labels')
    copyFileSync(join(FIXTURE_DIR, MNIST_FILES.trainImages.name), join(dir, MNIST_FILES.trainImages.name))
    const labels = parseIdxLabels(readFileSync(join(FIXTURE_DIR, MNIST_FILES.trainLabels.name)), 'fixture')
    const bad = Uint8Array.from(labels)
    bad[3] = 200
    writeFileSync(join(dir, MNIST_FILES.trainLabels.name), encodeIdxLabels(bad))
    const line = oneLine(await run(['train', '--data-dir', dir, '--output-dir', join(dir, 'run'), '--class-counts', SMALL_COUNTS]))
    expect(line).to.match(/train-labels-idx1-ubyte\.gz is corrupt: label 200 at position 3/)
  })
})
