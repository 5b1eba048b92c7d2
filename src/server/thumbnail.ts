import {crc32, deflateSync} from 'node:zlib'

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

/**
 * An 8-bit grayscale PNG of a square image of values in [0, 1]. Written by
 * hand (a few lines over zlib) because a 28×28 thumbnail per prediction must
 * cost microseconds, not an image library's start-up.
 */
export function grayPng(pixels: Float32Array, size = IMAGE_SIZE): Buffer {
  if (pixels.length !== size * size) throw new RangeError(`expected ${size * size} pixels, got ${pixels.length}`)
  const header = Buffer.alloc(13)
  header.writeUInt32BE(size, 0)
  header.writeUInt32BE(size, 4)
  header[8] = 8 // bit depth
  header[9] = 0 // grayscale
  // Each row starts with filter type 0 (none).
  const raw = Buffer.alloc(size * (size + 1))
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const value = pixels[y * size + x]
      raw[y * (size + 1) + 1 + x] = Math.round(Math.min(1, Math.max(0, Number.isFinite(value) ? value : 0)) * 255)
    }
  }

  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}

/** The preprocessed digit as the model saw it (white ink on black), as a data URI for the history. */
export function thumbnailDataUri(pixels: Float32Array): string {
  return `data:image/png;base64,${grayPng(pixels).toString('base64')}`
}
