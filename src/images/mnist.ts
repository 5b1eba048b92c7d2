/**
 * A grayscale image → a 28×28 MNIST-like input: MNIST's own recipe (crop to
 * the ink, fit 20×20, centre of mass at the centre, white ink on black) or a
 * plain resize.
 */
import {IMAGE_SIZE, PIXELS} from '../config.js'
import type {GrayImage} from './decode.js'

/** MNIST fits each digit's bounding box in 20×20 and centres it in 28×28 by centre of mass. */
const FIT_SIZE = 20
/**
 * Where MNIST puts the centre of mass, in pixel indices: its digits average
 * (14.0, 14.0), measured on the `mnist` package's 10,000 digits.
 */
const MASS_CENTRE = 14
/** Ink weaker than this (relative to the strongest) is paper texture or compression noise. */
const NOISE_FLOOR = 0.2
/** An image whose ink differs from its paper by less than this (on 0..1) is blank. */
const MIN_CONTRAST = 0.1

/** Source pixels and weights that make up each destination pixel along one axis. */
interface AxisWeights {
  index: Int32Array[]
  weight: Float32Array[]
}

/**
 * Shrinking averages the covered source area (so a thin stroke on a large canvas
 * fades but survives); enlarging interpolates linearly.
 */
function axisWeights(sourceLength: number, targetLength: number): AxisWeights {
  const index: Int32Array[] = []
  const weight: Float32Array[] = []
  const scale = targetLength / sourceLength
  for (let d = 0; d < targetLength; d++) {
    if (scale < 1) {
      const start = d / scale
      const end = (d + 1) / scale
      const first = Math.floor(start)
      const last = Math.min(sourceLength, Math.ceil(end))
      const ids = new Int32Array(last - first)
      const ws = new Float32Array(last - first)
      for (let s = first; s < last; s++) {
        ids[s - first] = s
        ws[s - first] = (Math.min(end, s + 1) - Math.max(start, s)) * scale
      }

      index.push(ids)
      weight.push(ws)
    } else {
      const centre = Math.min(Math.max((d + 0.5) / scale - 0.5, 0), sourceLength - 1)
      const low = Math.floor(centre)
      const high = Math.min(low + 1, sourceLength - 1)
      const fraction = centre - low
      index.push(Int32Array.of(low, high))
      weight.push(Float32Array.of(1 - fraction, fraction))
    }
  }

  return {index, weight}
}

/**
 * Resample the box (left, top, width × height) of a row-major image `stride`
 * pixels wide to targetWidth × targetHeight: rows first, then columns.
 */
function resample(
  source: Float32Array,
  stride: number,
  box: {left: number; top: number; width: number; height: number},
  targetWidth: number,
  targetHeight: number,
): Float32Array {
  const columns = axisWeights(box.width, targetWidth)
  const rows = axisWeights(box.height, targetHeight)
  const across = new Float32Array(box.height * targetWidth)
  for (let y = 0; y < box.height; y++) {
    const row = (box.top + y) * stride + box.left
    for (let x = 0; x < targetWidth; x++) {
      const ids = columns.index[x]
      const ws = columns.weight[x]
      let sum = 0
      for (let k = 0; k < ids.length; k++) sum += ws[k] * source[row + ids[k]]
      across[y * targetWidth + x] = sum
    }
  }

  const out = new Float32Array(targetWidth * targetHeight)
  for (let y = 0; y < targetHeight; y++) {
    const ids = rows.index[y]
    const ws = rows.weight[y]
    for (let x = 0; x < targetWidth; x++) {
      let sum = 0
      for (let k = 0; k < ids.length; k++) sum += ws[k] * across[ids[k] * targetWidth + x]
      out[y * targetWidth + x] = sum
    }
  }

  return out
}

function median(values: Float32Array): number {
  values.sort()
  const middle = values.length >> 1
  return values.length % 2 === 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2
}

/** The outer frame of pixels: where the paper shows, even when the digit touches one edge. */
function borderMedian({width: w, height: h, data}: GrayImage): number {
  const border = new Float32Array(w === 1 || h === 1 ? w * h : 2 * (w + h) - 4)
  let n = 0
  for (let x = 0; x < w; x++) {
    border[n++] = data[x]
    if (h > 1) border[n++] = data[(h - 1) * w + x]
  }

  for (let y = 1; y < h - 1; y++) {
    border[n++] = data[y * w]
    if (w > 1) border[n++] = data[y * w + w - 1]
  }

  return median(border)
}

/** What an image became: the model's 784 inputs, and whether a stroke (a digit's ink) was found at all. */
export interface MnistInput {
  /** 28×28, row-major, values in [0, 1], white ink on black; all 0 when no stroke was found. */
  pixels: Float32Array
  /** False for an image without a digit: blank paper, noise, ruled lines or a shadow only. */
  stroke: boolean
}

/** The one-line reason an image without a stroke cannot be read as a digit. */
export function noDigitMessage(name = 'the image'): string {
  return `${name}: no digit found, the image is blank (all one shade); draw or photograph a digit with clear contrast`
}

export interface MnistOptions {
  /** MNIST's recipe (ink detection, crop, fit 20×20, centre of mass); false: a plain resize to 28×28. */
  preprocess: boolean
  /** Names the input in errors. */
  name?: string
}

/**
 * A grayscale image as a 28×28 MNIST input, row-major, values in [0, 1].
 *
 * With `preprocess`: the paper's brightness (median of the outer frame) tells
 * dark ink on light paper from light on dark; ink becomes 1 on a 0 background,
 * scaled so the strongest ink is 1, with faint noise dropped; the ink's bounding
 * box is scaled to fit 20×20 keeping its aspect ratio and placed in 28×28 so its
 * centre of mass sits where MNIST's does. An image without ink has `stroke`
 * false and all-zero pixels.
 *
 * Without: the whole image resized to 28×28 as it is (no inversion, no crop),
 * what a naive pipeline feeds the model.
 */
export function toMnist(image: GrayImage, options: MnistOptions): MnistInput {
  const {width: w, height: h, data} = image
  if (!options.preprocess) {
    const pixels = resample(data, w, {left: 0, top: 0, width: w, height: h}, IMAGE_SIZE, IMAGE_SIZE)
    let low = Infinity
    let high = -Infinity
    for (const v of pixels) {
      low = Math.min(low, v)
      high = Math.max(high, v)
    }

    return {pixels, stroke: high - low >= MIN_CONTRAST}
  }

  const paper = borderMedian(image)
  // Ink strength: how far each pixel is from the paper, towards the ink's side.
  const sign = paper >= 0.5 ? -1 : 1
  let strongest = 0
  for (let i = 0; i < data.length; i++) strongest = Math.max(strongest, sign * (data[i] - paper))
  if (strongest < MIN_CONTRAST) return {pixels: new Float32Array(PIXELS), stroke: false}

  const ink = new Float32Array(data.length)
  let left = w
  let right = -1
  let top = h
  let bottom = -1
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i++) {
      const strength = (sign * (data[i] - paper)) / strongest
      if (strength < NOISE_FLOOR) continue
      ink[i] = strength
      if (x < left) left = x
      if (x > right) right = x
      if (y < top) top = y
      if (y > bottom) bottom = y
    }
  }

  const box = {left, top, width: right - left + 1, height: bottom - top + 1}
  const scale = FIT_SIZE / Math.max(box.width, box.height)
  const fitWidth = Math.max(1, Math.round(box.width * scale))
  const fitHeight = Math.max(1, Math.round(box.height * scale))
  const fitted = resample(ink, w, box, fitWidth, fitHeight)

  let mass = 0
  let massX = 0
  let massY = 0
  let peak = 0
  for (let y = 0; y < fitHeight; y++) {
    for (let x = 0; x < fitWidth; x++) {
      const v = fitted[y * fitWidth + x]
      mass += v
      massX += v * x
      massY += v * y
      peak = Math.max(peak, v)
    }
  }

  // Shift so the centre of mass lands on MNIST's, keeping the whole box inside the field.
  const place = (centre: number, size: number) => Math.min(Math.max(Math.round(MASS_CENTRE - centre), 0), IMAGE_SIZE - size)
  const offsetX = place(massX / mass, fitWidth)
  const offsetY = place(massY / mass, fitHeight)
  const out = new Float32Array(PIXELS)
  for (let y = 0; y < fitHeight; y++) {
    for (let x = 0; x < fitWidth; x++) {
      // Downscaling thins strokes to grey; stretching back to a full-strength peak keeps them MNIST-like.
      out[(y + offsetY) * IMAGE_SIZE + x + offsetX] = Math.min(1, fitted[y * fitWidth + x] / peak)
    }
  }

  return {pixels: out, stroke: true}
}
