/** Analytics plots of a run, as Vega-Lite specs rendered to PNG (SPEC §5). */
import type {TopLevelSpec} from 'vega-lite'

import type {ClassificationReport} from '../evaluation/schema.js'
import {type EpochLog, METRICS} from './epoch-log.js'
import {buildTimingStats} from './build.js'
import {BASE_CONFIG, renderVegaLite} from './render.js'
import type {RocCurves} from '../evaluation/roc.js'

const SERIES_COLORS = {trainLoss: '#1f77b4', valLoss: '#ff7f0e', learningRate: '#2ca02c'} as const

function fixed(value: number, digits: number): string {
  return value.toFixed(digits)
}

/** Epochs on an ordinal axis: one tick per epoch, and a single epoch still gets a readable axis. */
const EPOCH_X = {field: 'epoch', type: 'ordinal', title: 'epoch', axis: {labelAngle: 0}} as const

export function confusionMatrixSpec(report: ClassificationReport, title = 'Confusion matrix (evaluation split)'): TopLevelSpec {
  const labels = report.labels.map(String)
  const cells = report.labels.flatMap((trueLabel, i) => {
    const rowTotal = report.confusion_matrix[i].reduce((sum, n) => sum + n, 0)
    return report.labels.map((predictedLabel, j) => {
      const count = report.confusion_matrix[i][j]
      return {trueLabel: String(trueLabel), predictedLabel: String(predictedLabel), count, share: rowTotal === 0 ? 0 : count / rowTotal}
    })
  })
  const subtitle = `${report.total} images, accuracy ${fixed(report.accuracy, 4)}, macro F1 ${fixed(report.macro_avg.f1, 4)}; colour: share of the true class`
  return {
    ...BASE_CONFIG,
    title: {text: title, subtitle},
    width: 110 * labels.length,
    height: 110 * labels.length,
    data: {values: cells},
    encoding: {
      x: {field: 'predictedLabel', type: 'nominal', sort: labels, title: 'predicted label', axis: {labelAngle: 0, orient: 'bottom'}},
      y: {field: 'trueLabel', type: 'nominal', sort: labels, title: 'true label'},
    },
    layer: [
      {
        mark: {type: 'rect', stroke: 'white', strokeWidth: 2},
        encoding: {
          color: {
            field: 'share',
            type: 'quantitative',
            scale: {domain: [0, 1], scheme: 'blues'},
            legend: {title: 'share of row', format: '.0%'},
          },
        },
      },
      {
        mark: {type: 'text', fontSize: 18, fontWeight: 'bold'},
        encoding: {
          text: {field: 'count', type: 'quantitative'},
          color: {condition: {test: 'datum.share > 0.5', value: 'white'}, value: '#1a1a1a'},
        },
      },
    ],
  }
}

/** Confusion matrix heatmap with the count in every cell; colour is the share of the true class, so rare classes read as well as common ones. */
export async function plotConfusionMatrix(report: ClassificationReport, title?: string): Promise<Buffer> {
  return renderVegaLite(confusionMatrixSpec(report, title))
}

function aucText(auc: number | null): string {
  return auc === null ? 'n/a' : fixed(auc, 4)
}

export function rocSpec(roc: RocCurves, title = 'ROC curves, one-vs-rest (evaluation split)'): TopLevelSpec {
  // Every class is named in the legend, even one whose curve is undefined (no positive or no negative sample).
  const series = roc.per_class.map((curve) => `class ${curve.label} (AUC ${aucText(curve.auc)})`)
  const points = roc.per_class.flatMap((curve, c) => curve.fpr.map((fpr, order) => ({series: series[c], fpr, tpr: curve.tpr[order], order})))
  const axis = {tickCount: 5, grid: true}
  return {
    ...BASE_CONFIG,
    title: {text: title, subtitle: `macro AUC ${aucText(roc.macro_auc)}`},
    width: 380,
    height: 380,
    layer: [
      {
        data: {
          values: [
            {fpr: 0, tpr: 0},
            {fpr: 1, tpr: 1},
          ],
        },
        mark: {type: 'line', color: '#999999', strokeDash: [6, 4], strokeWidth: 1},
        encoding: {x: {field: 'fpr', type: 'quantitative'}, y: {field: 'tpr', type: 'quantitative'}},
      },
      {
        data: {values: points},
        mark: {type: 'line', strokeWidth: 2, interpolate: 'linear'},
        encoding: {
          x: {field: 'fpr', type: 'quantitative', title: 'false positive rate', scale: {domain: [0, 1]}, axis},
          y: {field: 'tpr', type: 'quantitative', title: 'true positive rate', scale: {domain: [0, 1]}, axis},
          color: {
            field: 'series',
            type: 'nominal',
            title: null,
            scale: {domain: series},
            legend: {orient: 'bottom-right', fillColor: 'white', padding: 6, labelLimit: 400},
          },
          order: {field: 'order', type: 'quantitative'},
        },
      },
    ],
  }
}

/** One-vs-rest ROC curve per class with its AUC in the legend, and the chance diagonal. */
export async function plotRoc(roc: RocCurves, title?: string): Promise<Buffer> {
  return renderVegaLite(rocSpec(roc, title))
}

const {trainLoss, valLoss, learningRate, epochSeconds} = METRICS

/** A log-scale domain that stays valid when the learning rate never changed. */
function learningRateDomain(epochs: readonly EpochLog[]): [number, number] {
  const rates = epochs.map((e) => e[learningRate.name])
  const low = Math.min(...rates)
  const high = Math.max(...rates)
  return low === high ? [low / 2, high * 2] : [low / 1.25, high * 1.25]
}

export function trainingDynamicsSpec(epochs: readonly EpochLog[]): TopLevelSpec {
  const losses = epochs.flatMap((e) => [trainLoss, valLoss].map((metric) => ({epoch: e.epoch, series: metric.title, loss: e[metric.name]})))
  const rates = epochs.map((e) => ({epoch: e.epoch, series: learningRate.title, [learningRate.name]: e[learningRate.name]}))
  const color = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: {
      domain: [trainLoss.title, valLoss.title, learningRate.title],
      range: [SERIES_COLORS.trainLoss, SERIES_COLORS.valLoss, SERIES_COLORS.learningRate],
    },
    legend: {orient: 'top', direction: 'horizontal'},
  } as const
  return {
    ...BASE_CONFIG,
    title: 'Training dynamics: loss and learning rate per epoch',
    width: 480,
    height: 300,
    layer: [
      {
        data: {values: losses},
        mark: {type: 'line', point: true, strokeWidth: 2},
        encoding: {
          x: EPOCH_X,
          y: {field: 'loss', type: 'quantitative', title: 'loss', scale: {zero: true}},
          color,
        },
      },
      {
        data: {values: rates},
        mark: {type: 'line', point: {shape: 'square'}, strokeDash: [6, 3], strokeWidth: 2, interpolate: 'step-after'},
        encoding: {
          x: EPOCH_X,
          y: {
            field: learningRate.name,
            type: 'quantitative',
            title: 'learning rate (log scale)',
            scale: {type: 'log', domain: learningRateDomain(epochs)},
            axis: {orient: 'right', format: '.0e', titleColor: SERIES_COLORS.learningRate},
          },
          color,
        },
      },
    ],
    resolve: {scale: {y: 'independent'}},
  }
}

/** Dual-axis plot: train and validation loss on the left axis, learning rate (log scale) on the right. */
export async function plotTrainingDynamics(epochs: readonly EpochLog[]): Promise<Buffer> {
  if (epochs.length === 0) throw new RangeError('a training-dynamics plot needs at least one epoch')
  return renderVegaLite(trainingDynamicsSpec(epochs))
}

export function timingSpec(epochs: readonly EpochLog[], imagesPerEpoch: number): TopLevelSpec {
  const {summary} = buildTimingStats(epochs, imagesPerEpoch)
  const throughput = summary.images_per_second === null ? 'n/a' : `${Math.round(summary.images_per_second)} images/s`
  const subtitle =
    `total ${fixed(summary.total_seconds, 1)} s, mean ${fixed(summary.mean_seconds, 2)} s, median ${fixed(summary.median_seconds, 2)} s, ` +
    `min ${fixed(summary.min_seconds, 2)} s, max ${fixed(summary.max_seconds, 2)} s, ${throughput}`
  return {
    ...BASE_CONFIG,
    title: {text: 'Epoch durations', subtitle},
    width: Math.max(360, 28 * epochs.length),
    height: 260,
    layer: [
      {
        data: {values: epochs.map((e) => ({epoch: e.epoch, seconds: e[epochSeconds.name]}))},
        mark: {type: 'bar', color: '#4c78a8'},
        encoding: {x: EPOCH_X, y: {field: 'seconds', type: 'quantitative', title: 'seconds'}},
      },
      {
        data: {values: [{mean: summary.mean_seconds, caption: `mean ${fixed(summary.mean_seconds, 2)} s`}]},
        layer: [
          {mark: {type: 'rule', color: '#d62728', strokeDash: [6, 3], strokeWidth: 2}, encoding: {y: {field: 'mean', type: 'quantitative'}}},
          {
            mark: {type: 'text', color: '#d62728', align: 'right', dy: -8, x: 'width', fontSize: 12},
            encoding: {y: {field: 'mean', type: 'quantitative'}, text: {field: 'caption'}},
          },
        ],
      },
    ],
  }
}

/** Bar chart of per-epoch wall time, with the mean marked and the summary in the subtitle. */
export async function plotTiming(epochs: readonly EpochLog[], imagesPerEpoch: number): Promise<Buffer> {
  return renderVegaLite(timingSpec(epochs, imagesPerEpoch))
}
