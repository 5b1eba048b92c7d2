import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {MNIST_FILES, PIXELS} from '../../src/config.js'
import {encodeIdxImages, encodeIdxLabels, readIdxPair, type IdxImages} from '../../src/data/idx.js'

export const ROOT = join(import.meta.dirname, '..', '..')
export const FIXTURE_DIR = join(ROOT, 'fixtures', 'mnist')
export const BIN = join(ROOT, 'bin', 'run.js')

export async function readFixture(): Promise<{images: IdxImages; labels: Uint8Array}> {
  return readIdxPair(join(FIXTURE_DIR, MNIST_FILES.trainImages.name), join(FIXTURE_DIR, MNIST_FILES.trainLabels.name))
}

/** The fixture's real digits repeated `times` times: a source large enough for the SPEC's default counts. */
export async function repeatedFixture(times: number): Promise<{images: IdxImages; labels: Uint8Array}> {
  const {images, labels} = await readFixture()
  const pixels = new Uint8Array(images.pixels.length * times)
  const repeatedLabels = new Uint8Array(labels.length * times)
  for (let t = 0; t < times; t++) {
    pixels.set(images.pixels, t * images.pixels.length)
    repeatedLabels.set(labels, t * labels.length)
  }

  return {images: {...images, count: images.count * times, pixels}, labels: repeatedLabels}
}

export const FIXTURE_PIXELS = PIXELS

/**
 * Writes into `dir` a stand-in t10k set of the official size (10,000 images,
 * as evaluate --split test demands): the fixture's digits, then copies of its
 * first image of `fill`, labelled `fill`.
 */
export async function writeStandInTestSet(dir: string, fill = 1): Promise<void> {
  const {images, labels} = await readFixture()
  const total = 10_000
  const first = labels.indexOf(fill)
  const pixels = new Uint8Array(total * PIXELS)
  const allLabels = new Uint8Array(total).fill(fill)
  pixels.set(images.pixels)
  allLabels.set(labels)
  for (let i = images.count; i < total; i++) pixels.set(images.pixels.subarray(first * PIXELS, (first + 1) * PIXELS), i * PIXELS)
  writeFileSync(join(dir, MNIST_FILES.testImages.name), encodeIdxImages(pixels, total))
  writeFileSync(join(dir, MNIST_FILES.testLabels.name), encodeIdxLabels(allLabels))
}
