import {expect} from 'chai'
import {readFileSync} from 'node:fs'

import * as fontkit from 'fontkit'

import {Resvg} from '@resvg/resvg-js'

import {confusionMatrixSpec} from '../../src/artifacts/plots.js'
import {FONT_FILES, PLOT_FONT, fontPath, plotFontFiles, plotFontMetrics, textWidthEm, vegaLiteToSvg} from '../../src/artifacts/render.js'
import {classificationReport} from '../../src/evaluation/metrics.js'
import {METRICS_FILE, computeFontMetrics, serializeFontMetrics, subsetPlotFont, wholeFontPath} from '../../scripts/plot-fonts.js'

/** The RGBA pixels of `svg` drawn at twice its size with the given font files, as the plots are. */
function pixels(svg: string, fontFiles: string[]): Buffer {
  return new Resvg(svg, {
    background: 'white',
    fitTo: {mode: 'zoom', value: 2},
    font: {fontFiles, loadSystemFonts: false, defaultFontFamily: PLOT_FONT},
  }).render().pixels
}

describe('plot fonts (fonts/)', function () {
  this.timeout(60_000)

  it('are the whole DejaVu Sans fonts cut down by scripts/plot-fonts.ts', async () => {
    for (const file of Object.values(FONT_FILES)) {
      expect(readFileSync(fontPath(file)).equals(await subsetPlotFont(file)), `fonts/${file} is stale: run npx tsx scripts/plot-fonts.ts`).to.equal(true)
    }
  })

  it('draw a plot with the pixels of the whole fonts, in both weights and beyond ASCII', async () => {
    const report = classificationReport([0, 0, 5, 8, 8], [0, 5, 5, 8, 0], [0, 5, 8])
    const svg = await vegaLiteToSvg(confusionMatrixSpec(report, 'Précision «Ÿ» σ ≤ 0.05 – ε ≈ 1e−7 … ×2 → ∞ ≠ AVAVAV'))
    expect(svg).to.include('font-weight="bold"')
    const whole = Object.values(FONT_FILES).map(wholeFontPath)
    expect(pixels(svg, plotFontFiles()).equals(pixels(svg, whole))).to.equal(true)
  })

  it('hold every plot character the whole fonts hold, with its advance', () => {
    for (const file of Object.values(FONT_FILES)) {
      const cut = fontkit.openSync(fontPath(file)) as fontkit.Font
      const whole = fontkit.openSync(wholeFontPath(file)) as fontkit.Font
      for (const char of Object.keys(plotFontMetrics().regular.advances)) {
        expect(cut.hasGlyphForCodePoint(char.codePointAt(0)!), `${file}: ${char}`).to.equal(true)
        expect(cut.layout(char).advanceWidth, `${file}: ${char}`).to.equal(whole.layout(char).advanceWidth)
      }
    }
  })

  it('metrics.json is the table scripts/plot-fonts.ts computes from the bundled fonts', () => {
    expect(readFileSync(METRICS_FILE, 'utf8'), 'fonts/metrics.json is stale: run npx tsx scripts/plot-fonts.ts').to.equal(
      serializeFontMetrics(computeFontMetrics()),
    )
  })

  it("measures the plots' texts to the width fontkit's layout gives them, in both weights", () => {
    const metrics = plotFontMetrics()
    const texts = [
      'Confusion matrix (evaluation split)',
      'Reliability diagram (eval split)',
      'before scaling (ECE 1.23%)',
      'Evaluation images (green frame: right, red frame: wrong)',
      'AVAVAV To Ty Wa, LT «Ÿ»',
      'true 5 → predicted 8 (99.4%)',
      'σ ≤ 0.05 – ε ≈ 1e−7 … ×2',
      'one-vs-rest, AUC 0.9987',
    ]
    for (const [weight, file] of Object.entries(FONT_FILES) as Array<['regular' | 'bold', string]>) {
      const font = fontkit.openSync(fontPath(file)) as fontkit.Font
      for (const text of texts) expect(textWidthEm(metrics, weight, text), `${weight}: ${text}`).to.equal(font.layout(text).advanceWidth / font.unitsPerEm)
    }
  })
})
