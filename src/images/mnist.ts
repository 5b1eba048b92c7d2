/**
 * A grayscale image → a 28×28 MNIST-like input: MNIST's own recipe (crop to
 * the ink, fit 20×20, centre of mass at the centre, white ink on black) or a
 * plain resize.
 */
import {IMAGE_SIZE, PIXELS} from '../config.js'
import type {GrayImage} from './decode.js'
import {paperInk} from './paper.js'
import {resample} from './resample.js'

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
  const photo = paperInk(image, paper)
  if (photo) {
    if (!photo.ink) return {pixels: new Float32Array(PIXELS), stroke: false}
    for (let i = 0; i < photo.ink.length; i++) if (photo.ink[i] < NOISE_FLOOR) photo.ink[i] = 0
    return fitInk(photo.ink, photo.width, photo.height)
  }

  // Ink strength: how far each pixel is from the paper, towards the ink's side.
  const sign = paper >= 0.5 ? -1 : 1
  let strongest = 0
  for (let i = 0; i < data.length; i++) strongest = Math.max(strongest, sign * (data[i] - paper))
  if (strongest < MIN_CONTRAST) return {pixels: new Float32Array(PIXELS), stroke: false}

  const ink = new Float32Array(data.length)
  for (let i = 0; i < data.length; i++) {
    const strength = (sign * (data[i] - paper)) / strongest
    if (strength >= NOISE_FLOOR) ink[i] = strength
  }

  return fitInk(ink, w, h)
}

/** Ink (0 for paper, up to 1) of a w×h image → its bounding box fitted in 20×20, placed in 28×28 by centre of mass. */
function fitInk(ink: Float32Array, w: number, h: number): MnistInput {
  let left = w
  let right = -1
  let top = h
  let bottom = -1
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i++) {
      if (ink[i] === 0) continue
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
