/**
 * The plot renderer on a thread of its own (see `startRenderWorker` in
 * ./render.ts): it loads vega, vega-lite, fontkit and resvg as soon as it
 * starts, and draws one plot of each kind a run's artifacts hold on made-up
 * data (`warmUp`), so a training run pays for loading and for compiling their
 * code while its epochs run; then it renders each Vega-Lite spec it is sent
 * to PNG bytes with the same code as the main thread.
 */
import {parentPort} from 'node:worker_threads'

import type {TopLevelSpec} from 'vega-lite'

import {PIXELS} from '../config.js'
import {classificationReport} from '../evaluation/metrics.js'
import {buildPredictionRows} from './build.js'
import {galleryFromPixels, plotGallery} from './gallery.js'
import {plotConfusionMatrix} from './plots.js'
import {buildReliability, plotReliability} from './reliability.js'
import {renderHere} from './render.js'

interface Request {
  id: number
  spec: TopLevelSpec
}

const port = parentPort
if (!port) throw new Error('render-worker.ts runs as a worker thread')
/**
 * A confusion matrix, a reliability diagram and a gallery of 30 made-up images of three classes: a run's first
 * plots of each kind then take about half the time they take cold.
 */
async function warmUp(): Promise<void> {
  const classes = [0, 1, 2]
  const labels = Array.from({length: 30}, (_, i) => i % 3)
  const probs = Float32Array.from({length: 90}, (_, i) => (i % 3 === labels[Math.floor(i / 3)] ? 0.8 : 0.1) + (i % 7) * 0.001)
  const predicted = labels.map((label, i) => (i % 10 === 0 ? (label + 1) % 3 : label))
  const pixels = Uint8Array.from({length: 30 * PIXELS}, (_, i) => (i * 37) % 256)
  const rows = buildPredictionRows(
    labels.map((_, i) => i),
    labels,
    probs,
    classes,
  )
  await plotConfusionMatrix(classificationReport(labels, predicted, classes))
  await plotReliability(buildReliability('eval', labels, probs, probs, 1))
  await plotGallery(galleryFromPixels(rows, pixels))
}

const ready = warmUp().catch(() => undefined)
port.on('message', async ({id, spec}: Request) => {
  await ready
  try {
    // A copy of its own: the renderer's buffer may share memory with others.
    const png = new Uint8Array(await renderHere(spec))
    port.postMessage({id, png}, [png.buffer])
  } catch (error) {
    port.postMessage({id, error: error instanceof Error ? (error.stack ?? error.message) : String(error)})
  }
})
