/**
 * Writes fonts/metrics.json: the glyph advances and pair kerning of the two
 * bundled DejaVu Sans fonts, in font units, for the characters plots use
 * (Latin with Latin-1 and Extended-A, Greek, punctuation, arrows and maths
 * signs), measured with fontkit's own layout. The plots measure their text
 * from this table (see textWidthFunction in src/artifacts/render.ts) instead
 * of parsing the fonts at run time; a test checks that the committed file is
 * what this script computes and that the widths agree with fontkit's. Run
 * after changing the fonts:
 *   npx tsx scripts/font-metrics.ts
 */
import {writeFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import * as fontkit from 'fontkit'

import {FONT_FILES, type FontMetrics, type PlotFontMetrics, fontPath} from '../src/artifacts/render.js'

export const METRICS_FILE = fileURLToPath(new URL('../fonts/metrics.json', import.meta.url))

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

function measure(file: string): {unitsPerEm: number; metrics: FontMetrics} {
  const font = fontkit.openSync(fontPath(file))
  if (!('layout' in font)) throw new Error(`${file} is a font collection, expected one font`)
  const chars = RANGES.flatMap(([from, to]) => Array.from({length: to - from + 1}, (_, i) => String.fromCodePoint(from + i))).filter((c) =>
    font.hasGlyphForCodePoint(c.codePointAt(0)!),
  )
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

/** The table of both fonts (they share their units per em). */
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
  const metrics = computeFontMetrics()
  writeFileSync(METRICS_FILE, serializeFontMetrics(metrics))
  process.stdout.write(
    `${METRICS_FILE}: ${Object.keys(metrics.regular.advances).length} characters, ${Object.keys(metrics.regular.kerning).length} + ${Object.keys(metrics.bold.kerning).length} kerning pairs\n`,
  )
}
