import {expect} from 'chai'
import {readFileSync} from 'node:fs'

import * as fontkit from 'fontkit'

import {FONT_FILES, fontPath, plotFontMetrics, textWidthEm} from '../../src/artifacts/render.js'
import {METRICS_FILE, computeFontMetrics, serializeFontMetrics} from '../../scripts/font-metrics.js'

describe('plot text metrics (fonts/metrics.json)', function () {
  this.timeout(60_000)

  it('is the table scripts/font-metrics.ts computes from the bundled fonts', () => {
    expect(readFileSync(METRICS_FILE, 'utf8'), 'fonts/metrics.json is stale: run npx tsx scripts/font-metrics.ts').to.equal(
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
