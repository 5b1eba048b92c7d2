/** Decode a PNG with jimp and answer the questions the plot tests ask of its pixels. */
import {Jimp} from 'jimp'

export interface Rgb {
  r: number
  g: number
  b: number
}

export interface DecodedPng {
  width: number
  height: number
  /** Number of distinct colours. */
  colours: number
  /** Pixels inside the box [x0, x1) × [y0, y1) (fractions of the size) that satisfy `test`. */
  count(test: (rgb: Rgb) => boolean, box?: {x0?: number; x1?: number; y0?: number; y1?: number}): number
}

export async function decodePng(png: Uint8Array): Promise<DecodedPng> {
  const image = await Jimp.read(Buffer.from(png))
  const {width, height, data} = image.bitmap
  const colours = new Set<number>()
  for (let i = 0; i < data.length; i += 4) colours.add(data.readUInt32BE(i))
  return {
    width,
    height,
    colours: colours.size,
    count(test, box = {}) {
      let n = 0
      const [x0, x1] = [Math.floor((box.x0 ?? 0) * width), Math.ceil((box.x1 ?? 1) * width)]
      const [y0, y1] = [Math.floor((box.y0 ?? 0) * height), Math.ceil((box.y1 ?? 1) * height)]
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const i = (y * width + x) * 4
          if (test({r: data[i], g: data[i + 1], b: data[i + 2]})) n++
        }
      }

      return n
    },
  }
}

/** Text is drawn in near-black: a glyph's core pixels. */
export const isInk = ({r, g, b}: Rgb): boolean => r < 60 && g < 60 && b < 60

/** Within `tolerance` of a colour given as #rrggbb. */
export function near(hex: string, tolerance = 40): (rgb: Rgb) => boolean {
  const [r0, g0, b0] = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16))
  return ({r, g, b}) => Math.abs(r - r0) + Math.abs(g - g0) + Math.abs(b - b0) <= tolerance
}
