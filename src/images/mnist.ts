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
/**
 * A frame with at least this share of its pixels at exactly one shade is digital paper: MNIST's own digits
 * (94% and more of their frame is 0, on all 70,000) and canvas drawings. Photos and scans of paper carry sensor
 * noise: at most 83% of their frame at one shade, even after JPEG has flattened it.
 */
const DIGITAL_PAPER = 0.9
/**
 * Strokes wider than this (2 × ink / perimeter on the 28×28 input, {@link strokeWidth}) are a felt marker's: thicker
 * than 96% of MNIST's digits (its median is 1.9, measured on the train file's 60,000).
 */
const THICK_STROKE = 3
/** A thick stroke is eroded to about MNIST's median width. */
const MNIST_STROKE = 2
/** Thinning works on the ink's box resampled to this long side: 4 pixels to each of the 20×20 fit's. */
const THIN_SIDE = 80

function median(values: Float32Array): number {
  values.sort()
  const middle = values.length >> 1
  return values.length % 2 === 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2
}

/**
 * The outer frame of pixels, where the paper shows even when the digit touches one edge: its median shade, and
 * the share of the frame at exactly that shade.
 */
function borderPaper({width: w, height: h, data}: GrayImage): {shade: number; uniform: number} {
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

  const shade = median(border)
  let same = 0
  for (const v of border) if (v === shade) same++
  return {shade, uniform: same / border.length}
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
 * centre of mass sits where MNIST's does. On paper that is not digital (its
 * frame is not one exact shade), strokes far thicker than MNIST's are thinned
 * to its width first. An image without ink has `stroke` false and all-zero
 * pixels.
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

  const {shade: paper, uniform} = borderPaper(image)
  // Strokes drawn on digital paper are the pen the drawer chose; only ink on paper seen by a camera or scanner is thinned.
  const thin = uniform < DIGITAL_PAPER
  const photo = paperInk(image, paper)
  if (photo) {
    if (!photo.ink) return {pixels: new Float32Array(PIXELS), stroke: false}
    for (let i = 0; i < photo.ink.length; i++) if (photo.ink[i] < NOISE_FLOOR) photo.ink[i] = 0
    return {pixels: fitThin(photo.ink, photo.width, photo.height, thin), stroke: true}
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

  return {pixels: fitThin(ink, w, h, thin), stroke: true}
}

/** The bounding box of the ink (its nonzero pixels) of a w×h image. */
function inkBox(ink: Float32Array, w: number, h: number): {left: number; top: number; width: number; height: number} {
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

  return {left, top, width: right - left + 1, height: bottom - top + 1}
}

/**
 * How wide the strokes of a 28×28 input are, in pixels: twice the ink (the sum of its values) over its
 * perimeter (the sum of the steps between neighbours, across and down, the field's edge counting as 0). A
 * stroke of width d and length L has ink d·L and perimeter about 2L.
 */
export function strokeWidth(pixels: Float32Array): number {
  let ink = 0
  let perimeter = 0
  for (let y = 0; y < IMAGE_SIZE; y++) {
    for (let x = 0; x < IMAGE_SIZE; x++) {
      const v = pixels[y * IMAGE_SIZE + x]
      const right = x + 1 < IMAGE_SIZE ? pixels[y * IMAGE_SIZE + x + 1] : 0
      const below = y + 1 < IMAGE_SIZE ? pixels[(y + 1) * IMAGE_SIZE + x] : 0
      ink += v
      perimeter += Math.abs(right - v) + Math.abs(below - v) + (x === 0 ? v : 0) + (y === 0 ? v : 0)
    }
  }

  return perimeter > 0 ? (2 * ink) / perimeter : 0
}

/** Grey erosion (the minimum) over a disk of `radius` pixels; beyond the image is paper (0). */
function erode(ink: Float32Array, w: number, h: number, radius: number): Float32Array {
  const reach = Math.floor(radius)
  const offsets: number[][] = []
  for (let dy = -reach; dy <= reach; dy++) for (let dx = -reach; dx <= reach; dx++) if (dx * dx + dy * dy <= radius * radius) offsets.push([dx, dy])
  const out = new Float32Array(w * h)
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let low = ink[y * w + x]
      for (const [dx, dy] of offsets) {
        if (low === 0) break
        const xx = x + dx
        const yy = y + dy
        low = Math.min(low, xx < 0 || yy < 0 || xx >= w || yy >= h ? 0 : ink[yy * w + xx])
      }

      out[y * w + x] = low
    }
  }

  return out
}

/**
 * The ink fitted as MNIST's (see {@link fitInk}); with `thin`, strokes far wider than MNIST's (a felt marker,
 * which the model reads as an 8 where the 5's strokes merge) are first eroded to about MNIST's width, on the
 * ink's box resampled to THIN_SIDE, so the work and the result do not depend on the image's resolution.
 */
function fitThin(ink: Float32Array, w: number, h: number, thin: boolean): Float32Array {
  const pixels = fitInk(ink, w, h)
  if (!thin) return pixels
  const width = strokeWidth(pixels)
  if (width <= THICK_STROKE) return pixels
  const box = inkBox(ink, w, h)
  const scale = THIN_SIDE / Math.max(box.width, box.height)
  const fineWidth = Math.max(1, Math.round(box.width * scale))
  const fineHeight = Math.max(1, Math.round(box.height * scale))
  const fine = erode(resample(ink, w, box, fineWidth, fineHeight), fineWidth, fineHeight, ((width - MNIST_STROKE) / 2) * (THIN_SIDE / FIT_SIZE))
  let left = 0
  for (let i = 0; i < fine.length; i++) {
    if (fine[i] < NOISE_FLOOR) fine[i] = 0
    else left++
  }

  return left > 0 ? fitInk(fine, fineWidth, fineHeight) : pixels
}

/** Ink (0 for paper, up to 1) of a w×h image → its bounding box fitted in 20×20, placed in 28×28 by centre of mass. */
function fitInk(ink: Float32Array, w: number, h: number): Float32Array {
  const box = inkBox(ink, w, h)
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

  return out
}
