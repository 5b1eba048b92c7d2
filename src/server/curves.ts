/**
 * The dashboard's learning curves, drawn by the plotting library the package
 * already ships (Vega-Lite, rendered to SVG on the server): crisp at any
 * pixel density, titled axes, and the legend below the plot, never on it.
 */
import type {TopLevelSpec} from 'vega-lite'

import type {LossCurves} from '../artifacts/schemas.js'
import {BASE_CONFIG, vegaLiteToSvg} from '../artifacts/render.js'

const EPOCH_X = {field: 'epoch', type: 'ordinal', title: 'epoch', axis: {labelAngle: 0}} as const

const LEGEND = {orient: 'bottom', direction: 'horizontal', title: null} as const

export function learningCurvesSpec(runName: string, curves: LossCurves): TopLevelSpec {
  const losses = curves.epochs.flatMap((epoch, i) => [
    {epoch, series: 'train loss', value: curves.train_loss[i]},
    {epoch, series: 'validation loss', value: curves.val_loss[i]},
  ])
  const scores = curves.epochs.flatMap((epoch, i) => [
    {epoch, series: 'validation balanced accuracy', value: (curves.val_balanced_acc ?? curves.val_accuracy)[i]},
    {epoch, series: 'validation macro-F1', value: curves.val_f1_macro[i]},
  ])
  const panel = (values: typeof losses, title: string, colours: string[], scale: object) => ({
    width: 260,
    height: 200,
    data: {values},
    mark: {type: 'line', point: true, strokeWidth: 2},
    encoding: {
      x: EPOCH_X,
      y: {field: 'value', type: 'quantitative', title, scale},
      color: {field: 'series', type: 'nominal', scale: {range: colours}, legend: LEGEND},
      tooltip: [
        {field: 'series', type: 'nominal'},
        {field: 'epoch', type: 'ordinal'},
        {field: 'value', type: 'quantitative', format: '.4f'},
      ],
    },
  })
  return {
    ...BASE_CONFIG,
    title: `Learning curves: ${runName}`,
    hconcat: [panel(losses, 'loss', ['#1f77b4', '#ff7f0e'], {zero: true}), panel(scores, 'score (0–1)', ['#2ca02c', '#9467bd'], {domain: [0, 1]})],
    resolve: {scale: {color: 'independent'}},
  } as TopLevelSpec
}

export function learningCurvesSvg(runName: string, curves: LossCurves): Promise<string> {
  return vegaLiteToSvg(learningCurvesSpec(runName, curves))
}
