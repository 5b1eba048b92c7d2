/**
 * Phone photos of a digit on paper, made from a 28×28 MNIST digit: what a user
 * who photographs a handwritten digit hands to `predict`. A scene is paper
 * reflectance (paper, optional ruled lines, the digit's ink) times the light
 * falling on it (even, a gradient, a shadow band), seen by a camera (optional
 * blur, slight rotation and perspective, sensor noise), saved as JPEG.
 *
 * Every random choice comes from the caller's Rng, so a seed gives the same
 * images. Used by `npm run bench:photos` and by the preprocessing tests.
 */
import {Jimp} from 'jimp'

import {IMAGE_SIZE} from '../src/config.js'
import type {Rng} from '../src/data/rng.js'
import {boxBlur} from '../src/images/paper.js'

/** Photo conditions with a digit; `clean` is plain paper in even light, the control. */
export const PHOTO_CONDITIONS = ['clean', 'gradient', 'ruled', 'shadow', 'all three', 'blur', 'pencil', 'tilted', 'marker'] as const
export type PhotoCondition = (typeof PHOTO_CONDITIONS)[number]

/** Scenes with no digit at all: what must come back as "no digit". */
export const EMPTY_SCENES = ['blank', 'noise', 'ruled only', 'shadow only'] as const
export type EmptyScene = (typeof EMPTY_SCENES)[number]

interface Scene {
  width: number
  height: number
  paper: number
  ink: number
  /** Digit field (28×28 square) side in pixels, its centre, its rotation. */
  field: number
  centreX: number
  centreY: number
  degrees: number
  /** Keystone: how much wider the bottom of the page looks than its top (0 = none). */
  keystone: number
  /** Ruled lines: spacing, thickness in pixels, grey, slope; spacing 0 = plain paper. */
  ruleSpacing: number
  ruleOffset: number
  ruleThickness: number
  ruleGrey: number
  ruleSlope: number
  /** Light gradient: the light at the brightest and darkest corner, and its direction. */
  lightHigh: number
  lightLow: number
  lightAngle: number
  /** Shadow band: how much light it takes, its direction, position and width (0 = none), and its edge softness. */
  shadowDepth: number
  shadowAngle: number
  shadowOffset: number
  shadowWidth: number
  shadowSoftness: number
  /** Camera: box-blur radius, sensor noise (standard deviation), JPEG quality. */
  blur: number
  noise: number
  quality: number
  /** Marker: the ink spread by this many digit pixels. */
  thicken: number
}

function baseScene(rng: Rng): Scene {
  const width = Math.round(rng.uniform(480, 720))
  const height = Math.round(width * rng.uniform(0.9, 1.35))
  const short = Math.min(width, height)
  const field = short * rng.uniform(0.4, 0.75)
  const margin = field * 0.55
  return {
    width,
    height,
    paper: rng.uniform(0.82, 0.95),
    ink: rng.uniform(0.05, 0.22),
    field,
    centreX: rng.uniform(margin, width - margin),
    centreY: rng.uniform(margin, height - margin),
    degrees: rng.uniform(-4, 4),
    keystone: 0,
    ruleSpacing: 0,
    ruleOffset: 0,
    ruleThickness: 0,
    ruleGrey: 0,
    ruleSlope: 0,
    lightHigh: 1,
    lightLow: 1,
    lightAngle: 0,
    shadowDepth: 0,
    shadowAngle: 0,
    shadowOffset: 0,
    shadowWidth: 0,
    shadowSoftness: 0,
    blur: 0,
    noise: rng.uniform(0.005, 0.015),
    quality: Math.round(rng.uniform(75, 92)),
    thicken: 0,
  }
}

function addGradient(s: Scene, rng: Rng): void {
  s.lightHigh = rng.uniform(0.95, 1.05)
  s.lightLow = rng.uniform(0.45, 0.65)
  s.lightAngle = rng.uniform(0, 2 * Math.PI)
  s.noise = rng.uniform(0.03, 0.05)
}

function addRules(s: Scene, rng: Rng): void {
  // Lines about as far apart as the digit is tall, or closer: a digit written on ruled paper crosses one or two.
  s.ruleSpacing = s.field * rng.uniform(0.3, 0.55)
  s.ruleOffset = rng.uniform(0, s.ruleSpacing)
  s.ruleThickness = rng.uniform(1.2, 3)
  s.ruleGrey = rng.uniform(0.5, 0.7)
  s.ruleSlope = Math.tan((rng.uniform(-1, 1) * Math.PI) / 180)
}

function addShadow(s: Scene, rng: Rng): void {
  s.shadowDepth = rng.uniform(0.35, 0.55)
  s.shadowAngle = rng.uniform(0, Math.PI)
  // A band through the middle third of the page: it crosses the digit or passes beside it.
  s.shadowOffset = rng.uniform(-0.2, 0.2) * Math.min(s.width, s.height)
  s.shadowWidth = rng.uniform(0.25, 0.5) * Math.min(s.width, s.height)
  s.shadowSoftness = rng.uniform(1, 12)
}

export function photoScene(condition: PhotoCondition | EmptyScene, rng: Rng): Scene {
  const s = baseScene(rng)
  switch (condition) {
    case 'clean':
    case 'blank': {
      break
    }

    case 'gradient':
    case 'noise': {
      addGradient(s, rng)
      if (condition === 'noise') s.noise = rng.uniform(0.05, 0.08)
      break
    }

    case 'ruled':
    case 'ruled only': {
      addRules(s, rng)
      break
    }

    case 'shadow':
    case 'shadow only': {
      addShadow(s, rng)
      break
    }

    case 'all three': {
      addGradient(s, rng)
      addRules(s, rng)
      addShadow(s, rng)
      break
    }

    case 'blur': {
      s.blur = Math.round(rng.uniform(2, 5))
      s.noise = rng.uniform(0.01, 0.03)
      break
    }

    case 'pencil': {
      // Grey graphite, pressed lightly: a third of the paper's contrast or less.
      s.ink = s.paper - rng.uniform(0.22, 0.35)
      s.noise = rng.uniform(0.01, 0.025)
      break
    }

    case 'tilted': {
      s.degrees = rng.uniform(8, 14) * (rng.next() < 0.5 ? -1 : 1)
      s.keystone = rng.uniform(0.1, 0.25)
      break
    }

    case 'marker': {
      s.thicken = 1
      s.ink = rng.uniform(0.02, 0.1)
      break
    }
  }

  return s
}

/** 3×3 maximum on the 28×28 digit: a felt marker's stroke. */
export function thicken(digit: Float32Array): Float32Array {
  const out = new Float32Array(digit.length)
  for (let y = 0; y < IMAGE_SIZE; y++) {
    for (let x = 0; x < IMAGE_SIZE; x++) {
      let v = 0
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy
          const xx = x + dx
          if (yy >= 0 && yy < IMAGE_SIZE && xx >= 0 && xx < IMAGE_SIZE) v = Math.max(v, digit[yy * IMAGE_SIZE + xx])
        }
      }

      out[y * IMAGE_SIZE + x] = v
    }
  }

  return out
}

/** Standard normal, Box–Muller. */
function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next())
}

/** Luminance in [0, 1] of the scene, row-major; `digit` (784 values, white ink on black) or none. */
export function renderPhoto(s: Scene, digit: Float32Array | undefined, rng: Rng): {width: number; height: number; data: Float32Array} {
  const {width, height} = s
  const ink = digit && (s.thicken > 0 ? thicken(digit) : digit)
  const out = new Float32Array(width * height)
  const scale = IMAGE_SIZE / s.field
  const cos = Math.cos((s.degrees * Math.PI) / 180)
  const sin = Math.sin((s.degrees * Math.PI) / 180)
  const sample = (x: number, y: number) => (ink && x >= 0 && x < IMAGE_SIZE && y >= 0 && y < IMAGE_SIZE ? ink[y * IMAGE_SIZE + x] : 0)
  const lx = Math.cos(s.lightAngle)
  const ly = Math.sin(s.lightAngle)
  // The gradient runs from lightLow to lightHigh across the page's extent along its direction.
  const extent = Math.abs(lx) * width + Math.abs(ly) * height
  const sx = Math.cos(s.shadowAngle)
  const sy = Math.sin(s.shadowAngle)
  for (let py = 0; py < height; py++) {
    for (let px = 0; px < width; px++) {
      // Keystone: the page's rows shrink towards the top, about the vertical centre line.
      const squeeze = 1 + s.keystone * (py / height - 0.5)
      const qx = (px + 0.5 - width / 2) / squeeze + width / 2
      const qy = py + 0.5
      const dx = qx - s.centreX
      const dy = qy - s.centreY
      const u = (cos * dx + sin * dy) * scale + IMAGE_SIZE / 2 - 0.5
      const v = (-sin * dx + cos * dy) * scale + IMAGE_SIZE / 2 - 0.5
      const x0 = Math.floor(u)
      const y0 = Math.floor(v)
      const fx = u - x0
      const fy = v - y0
      const a = (1 - fy) * ((1 - fx) * sample(x0, y0) + fx * sample(x0 + 1, y0)) + fy * ((1 - fx) * sample(x0, y0 + 1) + fx * sample(x0 + 1, y0 + 1))
      let reflect = s.paper
      if (s.ruleSpacing > 0) {
        const along = qy - s.ruleSlope * qx - s.ruleOffset
        const distance = Math.abs(along - Math.round(along / s.ruleSpacing) * s.ruleSpacing)
        const cover = Math.min(1, Math.max(0, s.ruleThickness / 2 + 0.5 - distance))
        reflect += cover * (s.ruleGrey * s.paper - s.paper)
      }

      reflect += a * (s.ink - reflect)
      const t = ((px - width / 2) * lx + (py - height / 2) * ly) / extent + 0.5
      let light = s.lightLow + t * (s.lightHigh - s.lightLow)
      if (s.shadowWidth > 0) {
        const across = Math.abs((px - width / 2) * sx + (py - height / 2) * sy - s.shadowOffset)
        const inside = Math.min(1, Math.max(0, (s.shadowWidth / 2 - across) / s.shadowSoftness + 0.5))
        light *= 1 - s.shadowDepth * inside
      }

      out[py * width + px] = reflect * light
    }
  }

  if (s.blur > 0) boxBlur(out, width, height, s.blur)
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, Math.max(0, out[i] + s.noise * gaussian(rng)))
  return {width, height, data: out}
}

/** A grayscale render as a colour JPEG, as a phone saves it. */
export async function photoJpeg(image: {width: number; height: number; data: Float32Array}, quality: number): Promise<Buffer> {
  const data = Buffer.alloc(image.data.length * 4)
  for (let i = 0; i < image.data.length; i++) {
    const v = Math.round(image.data[i] * 255)
    // Paper under indoor light is warm: a slight tint, so the decoder's colour-to-grey step is exercised.
    data[i * 4] = Math.min(255, Math.round(v * 1.03))
    data[i * 4 + 1] = v
    data[i * 4 + 2] = Math.round(v * 0.94)
    data[i * 4 + 3] = 255
  }

  return new Jimp({width: image.width, height: image.height, data}).getBuffer('image/jpeg', {quality})
}

/** One photo: the scene for the condition, rendered and encoded. */
export async function makePhoto(condition: PhotoCondition | EmptyScene, digit: Float32Array | undefined, rng: Rng): Promise<Buffer> {
  const scene = photoScene(condition, rng)
  return photoJpeg(renderPhoto(scene, digit, rng), scene.quality)
}
