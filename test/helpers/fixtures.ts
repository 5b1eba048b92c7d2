import {join} from 'node:path'

import {MNIST_FILES, PIXELS} from '../../src/config.js'
import {readIdxPair, type IdxImages} from '../../src/data/idx.js'

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
