import {expect} from 'chai'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'

import {MNIST_FILES} from '../../src/config.js'
import {encodeIdxImages, encodeIdxLabels, parseIdxImages, parseIdxLabels, prefetchIdx, readIdxPair} from '../../src/data/idx.js'
import {UserError} from '../../src/errors.js'
import {expectUserRejection} from '../helpers/assert.js'
import {FIXTURE_DIR, readFixture} from '../helpers/fixtures.js'

function expectUserError(fn: () => unknown, pattern: RegExp): void {
  expect(fn).to.throw(UserError, pattern)
}

describe('IDX files', () => {
  it('reads the fixture: 1,780 real 28×28 digits with matching labels', async () => {
    const {images, labels} = await readFixture()
    expect(images.count).to.equal(1780)
    expect([images.rows, images.cols]).to.deep.equal([28, 28])
    expect(labels.length).to.equal(1780)
    expect(labels.filter((l) => l === 8).length).to.equal(500)
    // Real digits: mostly background with some bright ink.
    const first = images.pixels.subarray(0, 784)
    expect(first.filter((v) => v > 200).length).to.be.greaterThan(30)
    expect(first.filter((v) => v === 0).length).to.be.greaterThan(400)
  })

  it('round-trips encode and parse, gzip or not', () => {
    const pixels = Uint8Array.from({length: 2 * 784}, (_, i) => i % 256)
    const images = parseIdxImages(encodeIdxImages(pixels, 2), 'x.gz')
    expect(images.count).to.equal(2)
    expect(Buffer.from(images.pixels).equals(Buffer.from(pixels))).to.equal(true)
    const labels = Uint8Array.of(0, 5, 8)
    expect([...parseIdxLabels(encodeIdxLabels(labels), 'y.gz')]).to.deep.equal([0, 5, 8])
    const header = Buffer.from([0, 0, 8, 1, 0, 0, 0, 1, 7])
    expect([...parseIdxLabels(header, 'plain')]).to.deep.equal([7])
  })

  it('rejects a truncated file, naming it', () => {
    const full = encodeIdxImages(new Uint8Array(784 * 3), 3)
    const raw = gunzipSync(full)
    expectUserError(() => parseIdxImages(raw.subarray(0, raw.length - 10), 'train-images-idx3-ubyte.gz'), /train-images-idx3-ubyte\.gz is truncated/)
    expectUserError(() => parseIdxImages(raw.subarray(0, 5), 'a.gz'), /a\.gz is truncated/)
    expectUserError(() => parseIdxImages(raw.subarray(0, 10), 'b.gz'), /b\.gz is truncated inside its IDX header/)
    expectUserError(() => parseIdxImages(full.subarray(0, full.length - 20), 'c.gz'), /c\.gz is not a readable gzip file/)
  })

  it('rejects a wrong kind of file and trailing garbage', () => {
    expectUserError(() => parseIdxImages(encodeIdxLabels(Uint8Array.of(1, 2)), 'labels-as-images.gz'), /labels-as-images\.gz is not an IDX images file/)
    expectUserError(() => parseIdxLabels(gzipSync(Buffer.from('hello world, not idx')), 'text.gz'), /text\.gz is not an IDX labels file/)
    const extra = Buffer.concat([Buffer.from([0, 0, 8, 1, 0, 0, 0, 1, 7]), Buffer.from([1])])
    expectUserError(() => parseIdxLabels(extra, 'long'), /long is corrupt/)
  })

  it('checks that images and labels agree, and names missing files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idx-'))
    writeFileSync(join(dir, 'i.gz'), encodeIdxImages(new Uint8Array(784 * 2), 2))
    writeFileSync(join(dir, 'l.gz'), encodeIdxLabels(Uint8Array.of(1, 2, 3)))
    writeFileSync(join(dir, 'small.gz'), encodeIdxImages(new Uint8Array(100), 1, 10, 10))
    writeFileSync(join(dir, 'l1.gz'), encodeIdxLabels(Uint8Array.of(1)))
    await expectUserRejection(readIdxPair(join(dir, 'i.gz'), join(dir, 'l.gz')), /holds 2 images but l\.gz holds 3 labels/)
    await expectUserRejection(readIdxPair(join(dir, 'small.gz'), join(dir, 'l1.gz')), /10×10 images/)
    await expectUserRejection(
      readIdxPair(join(dir, 'nope.gz'), join(FIXTURE_DIR, MNIST_FILES.trainLabels.name)),
      /nope\.gz not found; run `digit-classification download-data/,
    )
    await expectUserRejection(readIdxPair(dir, join(FIXTURE_DIR, MNIST_FILES.trainLabels.name)), /cannot read/)
  })

  it('reads a prefetched file once: the bytes read ahead, then the file again; a prefetch that failed fails the read in the same words', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idx-ahead-'))
    const [images, labels] = [join(dir, 'i.gz'), join(dir, 'l.gz')]
    writeFileSync(images, encodeIdxImages(new Uint8Array(784 * 2).fill(7), 2))
    writeFileSync(labels, encodeIdxLabels(Uint8Array.of(1, 2)))
    prefetchIdx(images)
    prefetchIdx(labels)
    // Read ahead: what was there when the prefetch started.
    await new Promise((resolve) => setTimeout(resolve, 200))
    writeFileSync(images, encodeIdxImages(new Uint8Array(784 * 2).fill(9), 2))
    expect((await readIdxPair(images, labels)).images.pixels[0]).to.equal(7)
    // Taken once: the next read is of the file as it is now.
    expect((await readIdxPair(images, labels)).images.pixels[0]).to.equal(9)
    rmSync(images)
    prefetchIdx(images)
    await new Promise((resolve) => setTimeout(resolve, 200))
    await expectUserRejection(readIdxPair(images, labels), /i\.gz not found; run `digit-classification download-data/)
  })
})
