/**
 * 8-bit PNGs written by hand (a few lines over zlib): a 28×28 thumbnail per
 * prediction or a run's gallery must cost microseconds, not an image
 * library's start-up, and a plot's million pixels 7 ms instead of the 21 ms
 * of resvg's own encoder (a faster zlib level; rows unfiltered).
 */
import {constants, crc32, deflateSync} from 'node:zlib'

import {IMAGE_SIZE} from '../config.js'

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length)
  out.writeUInt32BE(data.length, 0)
  out.write(type, 4, 'ascii')
  data.copy(out, 8)
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length)
  return out
}

/** PNG colour types: one grey byte a pixel, or four (red, green, blue, alpha). */
const COLOUR = {gray: {type: 0, bytes: 1}, rgba: {type: 6, bytes: 4}} as const

function png(samples: Uint8Array, width: number, height: number, colour: (typeof COLOUR)[keyof typeof COLOUR], level: number): Buffer {
  const stride = width * colour.bytes
  if (samples.length !== stride * height) throw new RangeError(`expected ${width * height} pixels, got ${samples.length / colour.bytes}`)
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header[8] = 8 // bit depth
  header[9] = colour.type
  // Each row starts with filter type 0 (none).
  const raw = Buffer.alloc(height * (stride + 1))
  for (let y = 0; y < height; y++) raw.set(samples.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1)
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', header), chunk('IDAT', deflateSync(raw, {level})), chunk('IEND', Buffer.alloc(0))])
}

/** A PNG of `width` × `height` grey levels 0..255, row by row. */
export function grayPngBytes(levels: Uint8Array, width: number, height: number): Buffer {
  return png(levels, width, height, COLOUR.gray, constants.Z_DEFAULT_COMPRESSION)
}

/**
 * A PNG of `width` × `height` RGBA pixels (4 bytes each, row by row), at
 * zlib level 3: a plot's flat colours compress about as well as at the
 * default level, in a fifth of the time.
 */
export function rgbaPng(pixels: Uint8Array, width: number, height: number): Buffer {
  return png(pixels, width, height, COLOUR.rgba, 3)
}

/** A PNG of a square image of values in [0, 1] (anything else is clamped; not a number is black). */
export function grayPng(pixels: Float32Array, size = IMAGE_SIZE): Buffer {
  if (pixels.length !== size * size) throw new RangeError(`expected ${size * size} pixels, got ${pixels.length}`)
  const levels = new Uint8Array(pixels.length)
  for (let i = 0; i < pixels.length; i++) {
    const value = pixels[i]
    levels[i] = Math.round(Math.min(1, Math.max(0, Number.isFinite(value) ? value : 0)) * 255)
  }

  return grayPngBytes(levels, size, size)
}
