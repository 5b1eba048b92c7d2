/**
 * `--augment`: small random affine distortions of the training images
 * (rotation, scale, shift), drawn afresh every epoch and resampled
 * bilinearly. Labels never change: a 0 turned by 10° is still a 0.
 */
import {IMAGE_SIZE, PIXELS} from '../config.js'
import {Rng} from './rng.js'

/** Ranges of the random transform; each image draws uniformly inside them. */
export interface AugmentRanges {
  /** Largest rotation, degrees either way. */
  rotationDegrees: number
  /** Largest relative scale change either way (0.1 → 0.9…1.1). */
  scale: number
  /** Largest shift, pixels either way on each axis. */
  shiftPixels: number
}

/** Mild enough that every digit stays readable (MNIST digits sit in a 20×20 box centred in 28×28). */
export const AUGMENT_DEFAULTS: Readonly<AugmentRanges> = {rotationDegrees: 10, scale: 0.1, shiftPixels: 2}

/** Kept apart from the shuffling stream, which forks the plain seed by epoch. */
const AUGMENT_SALT = 0x41_55_47

/**
 * The generator of one epoch's distortions. It depends on (seed, epoch) only,
 * so a resumed run distorts epoch 7 exactly as an uninterrupted one.
 */
export function augmentRng(seed: number, epoch: number): Rng {
  return new Rng((seed ^ AUGMENT_SALT) >>> 0).fork(epoch)
}

/**
 * `--augment` as a transform of the training data: each epoch distorts its batches with draws from
 * (seed, epoch); `fill` is the background in the batches' (normalised) scale.
 */
export function augmentTransform(seed: number, fill: number, ranges: AugmentRanges = AUGMENT_DEFAULTS) {
  const scratch = new Float32Array(PIXELS)
  return (epoch: number) => {
    const rng = augmentRng(seed, epoch)
    return (batch: Float32Array, count: number): void => augmentBatch(batch, count, rng, fill, ranges, scratch)
  }
}

/** The inverse map of one transform: output pixel → source position (2×2 matrix and offset, about the image centre). */
export interface InverseAffine {
  a: number
  b: number
  c: number
  d: number
  tx: number
  ty: number
}

/** Draw one transform (four draws, always, so every image consumes the same amount of the stream). */
export function drawTransform(rng: Rng, ranges: AugmentRanges = AUGMENT_DEFAULTS): InverseAffine {
  const angle = (rng.uniform(-ranges.rotationDegrees, ranges.rotationDegrees) * Math.PI) / 180
  const scale = 1 + rng.uniform(-ranges.scale, ranges.scale)
  const dx = rng.uniform(-ranges.shiftPixels, ranges.shiftPixels)
  const dy = rng.uniform(-ranges.shiftPixels, ranges.shiftPixels)
  return inverseOf(angle, scale, dx, dy)
}

/** Forward: p' = S·R·(p − centre) + centre + shift; the inverse is what resampling needs. */
export function inverseOf(angle: number, scale: number, dx: number, dy: number): InverseAffine {
  const cos = Math.cos(angle) / scale
  const sin = Math.sin(angle) / scale
  const centre = (IMAGE_SIZE - 1) / 2
  // R(−θ)/s applied to (p − centre − shift), plus centre.
  return {a: cos, b: sin, c: -sin, d: cos, tx: centre - cos * (centre + dx) - sin * (centre + dy), ty: centre + sin * (centre + dx) - cos * (centre + dy)}
}

/**
 * Resample one 28×28 image through `t` into `out` (bilinear; positions outside
 * the image read `fill`, the background value in whatever scale `src` uses).
 */
export function warpImage(src: Float32Array, srcOffset: number, out: Float32Array, outOffset: number, t: InverseAffine, fill: number): void {
  const last = IMAGE_SIZE - 1
  for (let y = 0; y < IMAGE_SIZE; y++) {
    // Source position of (0, y), then step by the matrix's first column along the row.
    let sx = t.b * y + t.tx
    let sy = t.d * y + t.ty
    let o = outOffset + y * IMAGE_SIZE
    for (let x = 0; x < IMAGE_SIZE; x++, sx += t.a, sy += t.c, o++) {
      if (sx >= 0 && sy >= 0 && sx < last && sy < last) {
        // Inside: all four neighbours exist (the common case, kept free of checks).
        const x0 = sx | 0
        const y0 = sy | 0
        const fx = sx - x0
        const fy = sy - y0
        const i = srcOffset + y0 * IMAGE_SIZE + x0
        const top = src[i] + (src[i + 1] - src[i]) * fx
        const bottom = src[i + IMAGE_SIZE] + (src[i + IMAGE_SIZE + 1] - src[i + IMAGE_SIZE]) * fx
        out[o] = top + (bottom - top) * fy
      } else if (sx <= -1 || sy <= -1 || sx >= IMAGE_SIZE || sy >= IMAGE_SIZE) {
        out[o] = fill
      } else {
        out[o] = edgeSample(src, srcOffset, sx, sy, fill)
      }
    }
  }
}

/** Bilinear sample within one pixel of the border: neighbours outside the image read `fill`. */
function edgeSample(src: Float32Array, srcOffset: number, sx: number, sy: number, fill: number): number {
  const last = IMAGE_SIZE - 1
  const x0 = Math.floor(sx)
  const y0 = Math.floor(sy)
  const fx = sx - x0
  const fy = sy - y0
  const row0 = srcOffset + y0 * IMAGE_SIZE
  const row1 = row0 + IMAGE_SIZE
  const inX0 = x0 >= 0
  const inX1 = x0 < last
  const inY0 = y0 >= 0
  const inY1 = y0 < last
  const p00 = inY0 && inX0 ? src[row0 + x0] : fill
  const p01 = inY0 && inX1 ? src[row0 + x0 + 1] : fill
  const p10 = inY1 && inX0 ? src[row1 + x0] : fill
  const p11 = inY1 && inX1 ? src[row1 + x0 + 1] : fill
  const top = p00 + (p01 - p00) * fx
  const bottom = p10 + (p11 - p10) * fx
  return top + (bottom - top) * fy
}

/**
 * Distort `count` consecutive images of `batch` in place, one transform each,
 * drawn from `rng` in order. `fill` is the background in the batch's scale
 * (for standardised images: (0 − mean) / std).
 */
export function augmentBatch(
  batch: Float32Array,
  count: number,
  rng: Rng,
  fill: number,
  ranges: AugmentRanges = AUGMENT_DEFAULTS,
  scratch = new Float32Array(PIXELS),
): void {
  for (let i = 0; i < count; i++) {
    scratch.set(batch.subarray(i * PIXELS, (i + 1) * PIXELS))
    warpImage(scratch, 0, batch, i * PIXELS, drawTransform(rng, ranges), fill)
  }
}
