/** The 5×5 gallery of evaluation images, framed green when predicted right and red when wrong. */
import type {TopLevelSpec} from 'vega-lite'
import {z} from 'zod'

import {IMAGE_SIZE, PIXELS} from '../config.js'
import {grayPngBytes} from '../images/png.js'
import {BASE_CONFIG, renderVegaLite} from './render.js'
import type {PredictionSample} from './schemas.js'

export const GALLERY_SIZE = 25
const COLUMNS = 5
/** Each 28×28 digit is drawn at twice its size; the frame and caption sit around it. */
const IMAGE_SCALE = 2
const FRAME = 4
const CELL_WIDTH = 96
const CELL_HEIGHT = 100
const RIGHT = '#2ca02c'
const WRONG = '#d62728'

const LabelSchema = z.int().min(0).max(9)

/**
 * One gallery image. `pixels`: 784 grey levels of the raw image (not the
 * normalised input): floats in [0, 1], or bytes 0..255 in a Uint8Array.
 */
export const GallerySampleSchema = z
  .object({
    pixels: z.custom<Float32Array | Float64Array | Uint8Array | number[]>(
      (v) => v instanceof Float32Array || v instanceof Float64Array || v instanceof Uint8Array || (Array.isArray(v) && v.every((n) => typeof n === 'number')),
      {message: 'pixels must be a Float32Array, Float64Array, Uint8Array or array of numbers'},
    ),
    trueLabel: LabelSchema,
    predictedLabel: LabelSchema,
  })
  .refine((s) => s.pixels.length === PIXELS, {message: `pixels must hold ${PIXELS} values (${IMAGE_SIZE}×${IMAGE_SIZE})`, path: ['pixels']})
  .refine((s) => s.pixels instanceof Uint8Array || s.pixels.every((v) => v >= 0 && v <= 1), {
    message: 'float pixels must lie in [0, 1] (pass raw images, not normalised ones)',
    path: ['pixels'],
  })
export type GallerySample = z.infer<typeof GallerySampleSchema>

/**
 * Which predictions to show, in order: every misclassified sample first, the
 * most confidently wrong leading (fastai's "top losses": what a reader looks
 * for), then correct ones taken from each class in turn so rare classes appear
 * too. Deterministic: ties keep split order.
 */
export function selectGallerySamples(predictions: readonly PredictionSample[], count = GALLERY_SIZE): PredictionSample[] {
  // The predicted label is the most probable class: its probability is the largest.
  const confidence = (p: PredictionSample) => Math.max(...p.probabilities)
  const wrong = predictions.filter((p) => p.true_label !== p.predicted_label).sort((a, b) => confidence(b) - confidence(a))
  const chosen = wrong.slice(0, count)
  const classes = [...new Set(predictions.map((p) => p.true_label))].sort((a, b) => a - b)
  const rightByClass = classes.map((label) => predictions.filter((p) => p.true_label === label && p.predicted_label === label))
  for (let round = 0; chosen.length < count; round++) {
    const takes = rightByClass.map((list) => list[round]).filter((p): p is PredictionSample => p !== undefined)
    if (takes.length === 0) break
    chosen.push(...takes.slice(0, count - chosen.length))
  }

  return chosen
}

/**
 * The gallery of a split: `selectGallerySamples`, with each image cut from
 * `pixels`, the MNIST file's bytes (784 per image, indexed by dataset_index).
 */
export function galleryFromPixels(predictions: readonly PredictionSample[], pixels: Uint8Array, count = GALLERY_SIZE): GallerySample[] {
  return selectGallerySamples(predictions, count).map((p) => {
    const start = p.dataset_index * PIXELS
    if (start + PIXELS > pixels.length) throw new RangeError(`dataset_index ${p.dataset_index} is past the end of the image data`)
    return {pixels: pixels.subarray(start, start + PIXELS), trueLabel: p.true_label, predictedLabel: p.predicted_label}
  })
}

/**
 * The gallery's digits as one grey image the size of the grid at one image
 * pixel per IMAGE_SCALE CSS pixels: each digit at its place (`digitPlace`),
 * white around them. One PNG to encode and for the renderer to decode and
 * scale, instead of one per digit. A data URI, for an image mark.
 */
function digitSheetDataUri(samples: readonly GallerySample[], rows: number): string {
  const width = (COLUMNS * CELL_WIDTH) / IMAGE_SCALE
  const height = (rows * CELL_HEIGHT) / IMAGE_SCALE
  const levels = new Uint8Array(width * height).fill(0xff)
  for (const [i, sample] of samples.entries()) {
    const {left, top} = digitPlace(i)
    const scale = sample.pixels instanceof Uint8Array ? 1 : 255
    for (let y = 0; y < IMAGE_SIZE; y++) {
      for (let x = 0; x < IMAGE_SIZE; x++) {
        const grey = Math.round(Math.min(255, Math.max(0, sample.pixels[y * IMAGE_SIZE + x] * scale)))
        levels[(top / IMAGE_SCALE + y) * width + left / IMAGE_SCALE + x] = grey
      }
    }
  }

  return `data:image/png;base64,${grayPngBytes(levels, width, height).toString('base64')}`
}

/** Where digit `i`'s square starts in the plot, in CSS pixels (multiples of IMAGE_SCALE). */
function digitPlace(i: number): {left: number; top: number} {
  const side = IMAGE_SIZE * IMAGE_SCALE
  return {left: (i % COLUMNS) * CELL_WIDTH + (CELL_WIDTH - side) / 2, top: Math.floor(i / COLUMNS) * CELL_HEIGHT + FRAME}
}

export function gallerySpec(samples: readonly GallerySample[], title = 'Evaluation images (green frame: right, red frame: wrong)'): TopLevelSpec {
  const side = IMAGE_SIZE * IMAGE_SCALE
  const rows = Math.ceil(samples.length / COLUMNS)
  const cells = samples.map((sample, i) => {
    const {left, top} = digitPlace(i)
    return {
      frameLeft: left - FRAME / 2,
      frameRight: left + side + FRAME / 2,
      frameTop: top - FRAME / 2,
      frameBottom: top + side + FRAME / 2,
      captionX: left + side / 2,
      captionY: top + side + FRAME + 4,
      outcome: sample.trueLabel === sample.predictedLabel ? 'right' : 'wrong',
      caption: `true ${sample.trueLabel} / pred ${sample.predictedLabel}`,
    }
  })
  const wrong = cells.filter((c) => c.outcome === 'wrong').length
  // Positions are pixels computed above (scale: null): this is a grid of pictures, not a chart with data axes.
  const pixel = (field: string) => ({field, type: 'quantitative', scale: null}) as const
  const outcomeColor = {field: 'outcome', type: 'nominal', scale: {domain: ['right', 'wrong'], range: [RIGHT, WRONG]}, legend: null} as const
  return {
    ...BASE_CONFIG,
    config: {...BASE_CONFIG.config, view: {stroke: null}},
    title: {text: title, subtitle: `${samples.length} images shown, ${wrong} misclassified`},
    width: COLUMNS * CELL_WIDTH,
    height: rows * CELL_HEIGHT,
    data: {values: cells},
    layer: [
      {
        data: {values: [{url: digitSheetDataUri(samples, rows)}]},
        mark: {type: 'image', width: COLUMNS * CELL_WIDTH, height: rows * CELL_HEIGHT, align: 'left', baseline: 'top', smooth: false},
        encoding: {x: {value: 0}, y: {value: 0}, url: {field: 'url', type: 'nominal'}},
      },
      {
        mark: {type: 'rect', fillOpacity: 0, strokeWidth: FRAME},
        encoding: {x: pixel('frameLeft'), x2: {field: 'frameRight'}, y: pixel('frameTop'), y2: {field: 'frameBottom'}, stroke: outcomeColor},
      },
      {
        mark: {type: 'text', align: 'center', baseline: 'top', fontSize: 12},
        encoding: {x: pixel('captionX'), y: pixel('captionY'), text: {field: 'caption', type: 'nominal'}, color: outcomeColor},
      },
    ],
  }
}

/** A grid (5 per row) of digit images with "true X / pred Y" captions, each framed green (right) or red (wrong). */
export async function plotGallery(samples: readonly GallerySample[], title?: string): Promise<Buffer> {
  if (samples.length === 0) throw new RangeError('a gallery needs at least one image')
  const parsed = z.array(GallerySampleSchema).safeParse(samples)
  if (!parsed.success) throw new Error(`gallery samples are invalid:\n${z.prettifyError(parsed.error)}`)
  return renderVegaLite(gallerySpec(samples, title))
}
