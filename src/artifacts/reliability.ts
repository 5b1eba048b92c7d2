/**
 * reliability.json / reliability.png: how far the model's confidence is from
 * its accuracy, before and after temperature scaling (15 equal-width bins).
 */
import type {TopLevelSpec} from 'vega-lite'

import {ECE_BINS, type Reliability, reliability} from '../evaluation/calibration.js'
import {BASE_CONFIG, renderVegaLite} from './render.js'
import {ARTIFACT_SCHEMA_VERSION, type ReliabilityDocument, ReliabilitySchema} from './schemas.js'

export {type ReliabilityDocument, ReliabilitySchema} from './schemas.js'

/** The document from a split's probabilities before and after scaling; `labels` are class indices. */
export function buildReliability(
  split: ReliabilityDocument['split'],
  labels: ArrayLike<number>,
  probsBefore: ArrayLike<number>,
  probsAfter: ArrayLike<number>,
  temperature: number,
): ReliabilityDocument {
  const curve = (r: Reliability) => ({ece: r.ece, bins: r.bins})
  const k = probsBefore.length / Math.max(labels.length, 1)
  return {
    schema_version: ARTIFACT_SCHEMA_VERSION,
    split,
    samples: labels.length,
    temperature,
    before: curve(reliability(probsBefore, labels, k)),
    after: curve(reliability(probsAfter, labels, k)),
  }
}

const SERIES = {before: 'before scaling', after: 'after scaling'} as const

export function reliabilitySpec(doc: ReliabilityDocument, title = `Reliability diagram (${doc.split} split)`): TopLevelSpec {
  const ece = (name: 'before' | 'after') => `${SERIES[name]} (ECE ${(doc[name].ece * 100).toFixed(2)}%)`
  const points = (['before', 'after'] as const).flatMap((name) =>
    doc[name].bins.filter((b) => b.count > 0).map((b) => ({series: ece(name), confidence: b.confidence, accuracy: b.accuracy, count: b.count})),
  )
  const axis = {tickCount: 5, grid: true}
  const color = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: {domain: [ece('before'), ece('after')], range: ['#ff7f0e', '#1f77b4']},
    legend: {orient: 'bottom-right', fillColor: 'white', padding: 6, labelLimit: 400},
  } as const
  return {
    ...BASE_CONFIG,
    title: {text: title, subtitle: `${doc.samples} images, ${ECE_BINS} bins, temperature ${doc.temperature.toFixed(3)}; point size: images in the bin`},
    width: 380,
    height: 380,
    layer: [
      {
        data: {
          values: [
            {confidence: 0, accuracy: 0},
            {confidence: 1, accuracy: 1},
          ],
        },
        mark: {type: 'line', color: '#999999', strokeDash: [6, 4], strokeWidth: 1},
        encoding: {x: {field: 'confidence', type: 'quantitative'}, y: {field: 'accuracy', type: 'quantitative'}},
      },
      {
        data: {values: points},
        encoding: {
          x: {field: 'confidence', type: 'quantitative', title: 'mean confidence in bin', scale: {domain: [0, 1]}, axis},
          y: {field: 'accuracy', type: 'quantitative', title: 'accuracy in bin', scale: {domain: [0, 1]}, axis},
          color,
        },
        layer: [
          {mark: {type: 'line', strokeWidth: 2}},
          {
            mark: {type: 'point', filled: true, opacity: 1},
            encoding: {size: {field: 'count', type: 'quantitative', legend: null, scale: {type: 'sqrt', range: [20, 300]}}},
          },
        ],
      },
    ],
  }
}

/** Accuracy against confidence per bin, before and after scaling, with the diagonal of perfect calibration. */
export async function plotReliability(doc: ReliabilityDocument, title?: string): Promise<Buffer> {
  return renderVegaLite(reliabilitySpec(ReliabilitySchema.parse(doc), title))
}
