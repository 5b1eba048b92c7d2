/**
 * Writes the plot fonts of fonts/ from the DejaVu Sans of the
 * `dejavu-fonts-ttf` package (a development dependency):
 *
 * - DejaVuSans.ttf and DejaVuSans-Bold.ttf, cut down (HarfBuzz's subsetter,
 *   through `subset-font`) to the characters plots use: Latin with Latin-1
 *   and Extended-A, Greek, punctuation, arrows and maths signs. Their outlines,
 *   advances and kerning are the whole fonts'; what goes is the 5,000 other
 *   glyphs and their tables, which resvg parses again for every text of a
 *   plot (2 ms a label with the whole font, 0.4 ms with the cut one);
 * - metrics.json: those characters' advances and pair kerning in font units,
 *   measured with fontkit's own layout. The plots measure their text from it
 *   (textWidthFunction in src/artifacts/render.ts), so no font is parsed to lay them out.
 *
 * Tests check that the committed files are what this script writes, and that
 * a plot drawn with the cut fonts has the pixels of one drawn with the whole ones.
 *   npx tsx scripts/plot-fonts.ts
 */
import {readFileSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'

import * as fontkit from 'fontkit'
import subsetFont from 'subset-font'

import {FONT_FILES, type FontMetrics, type PlotFontMetrics, fontPath} from '../src/artifacts/render.js'

export const METRICS_FILE = fileURLToPath(new URL('../fonts/metrics.json', import.meta.url))

/** A whole DejaVu font file (`FONT_FILES`' names) of the `dejavu-fonts-ttf` package. */
export function wholeFontPath(file: string): string {
  return createRequire(import.meta.url).resolve(`dejavu-fonts-ttf/ttf/${file}`)
}

/** The code points measured: what a title, a label or a class name of a plot may hold. */
const RANGES: Array<[number, number]> = [
  [0x20, 0x7e],
  [0xa0, 0x17f],
  [0x391, 0x3c9],
  [0x2010, 0x2027],
  [0x2030, 0x2044],
  [0x2190, 0x2199],
  [0x2212, 0x2212],
  [0x221e, 0x221e],
  [0x2248, 0x2248],
  [0x2260, 0x2265],
]

/** Every character of RANGES. */
function plotCharacters(): string[] {
  return RANGES.flatMap(([from, to]) => Array.from({length: to - from + 1}, (_, i) => String.fromCodePoint(from + i)))
}

/** The whole font `file` cut down to the characters of RANGES, as TrueType bytes. */
export async function subsetPlotFont(file: string): Promise<Buffer> {
  return subsetFont(readFileSync(wholeFontPath(file)), plotCharacters().join(''), {targetFormat: 'truetype'})
}

function measure(file: string): {unitsPerEm: number; metrics: FontMetrics} {
  const font = fontkit.openSync(fontPath(file))
  if (!('layout' in font)) throw new Error(`${file} is a font collection, expected one font`)
  const chars = plotCharacters().filter((c) => font.hasGlyphForCodePoint(c.codePointAt(0)!))
  const advances: Record<string, number> = {}
  for (const c of chars) advances[c] = font.layout(c).advanceWidth
  const kerning: Record<string, number> = {}
  for (const a of chars) {
    for (const b of chars) {
      const k = font.layout(a + b).advanceWidth - advances[a] - advances[b]
      if (k !== 0) kerning[a + b] = k
    }
  }

  return {unitsPerEm: font.unitsPerEm, metrics: {advances, kerning}}
}

/** The table of both bundled fonts (they share their units per em). */
export function computeFontMetrics(): PlotFontMetrics {
  const regular = measure(FONT_FILES.regular)
  const bold = measure(FONT_FILES.bold)
  if (regular.unitsPerEm !== bold.unitsPerEm) throw new Error('the two fonts have different units per em')
  return {unitsPerEm: regular.unitsPerEm, regular: regular.metrics, bold: bold.metrics}
}

export function serializeFontMetrics(metrics: PlotFontMetrics): string {
  return `${JSON.stringify(metrics)}\n`
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  for (const file of Object.values(FONT_FILES)) {
    const bytes = await subsetPlotFont(file)
    writeFileSync(fontPath(file), bytes)
    process.stdout.write(`${fontPath(file)}: ${bytes.length.toLocaleString('en-US')} bytes\n`)
  }

  const metrics = computeFontMetrics()
  writeFileSync(METRICS_FILE, serializeFontMetrics(metrics))
  process.stdout.write(
    `${METRICS_FILE}: ${Object.keys(metrics.regular.advances).length} characters, ${Object.keys(metrics.regular.kerning).length} + ${Object.keys(metrics.bold.kerning).length} kerning pairs\n`,
  )
}
