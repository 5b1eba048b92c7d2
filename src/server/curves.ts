/**
 * The dashboard's learning curves, drawn by the plotting library the package
 * already ships (Vega-Lite, rendered to SVG on the server): crisp at any
 * pixel density, titled axes, and the legend below the plot, never on it.
 */
import type {Config, TopLevelSpec} from 'vega-lite'

import type {LossCurves} from '../artifacts/schemas.js'
import {BASE_CONFIG, vegaLiteToSvg} from '../artifacts/render.js'

const EPOCH_X = {field: 'epoch', type: 'ordinal', title: 'epoch', axis: {labelAngle: 0}} as const

const LEGEND = {orient: 'bottom', direction: 'horizontal', title: null, labelLimit: 0} as const

/** The page's two themes; the SVG is an image, so it cannot follow the page's CSS and is drawn for one of them. */
export const CURVE_THEMES = ['light', 'dark'] as const
export type CurveTheme = (typeof CURVE_THEMES)[number]

/** The dark theme's colours (web/style.css: --panel, --ink, --muted, --line) and lines bright enough on them. */
const DARK = {background: '#1a1f29', ink: '#e6e9ef', muted: '#a9b1c0', line: '#394150'}

const LINE_COLOURS: Record<CurveTheme, {losses: string[]; scores: string[]}> = {
  light: {losses: ['#1f77b4', '#ff7f0e'], scores: ['#2ca02c', '#9467bd']},
  dark: {losses: ['#7aa2ff', '#ffb366'], scores: ['#4ade80', '#c4a7ff']},
}

function themed(theme: CurveTheme): {background: string; padding: number; config: Config} {
  if (theme === 'light') return BASE_CONFIG
  const {config} = BASE_CONFIG
  return {
    ...BASE_CONFIG,
    background: DARK.background,
    config: {
      ...config,
      title: {...config.title, color: DARK.ink},
      axis: {...config.axis, labelColor: DARK.ink, titleColor: DARK.ink, domainColor: DARK.muted, tickColor: DARK.muted, gridColor: DARK.line},
      legend: {...config.legend, labelColor: DARK.ink, titleColor: DARK.ink},
      view: {stroke: DARK.line},
    },
  }
}

export function learningCurvesSpec(runName: string, curves: LossCurves, theme: CurveTheme = 'light'): TopLevelSpec {
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
    ...themed(theme),
    title: `Learning curves: ${runName}`,
    hconcat: [panel(losses, 'loss', LINE_COLOURS[theme].losses, {zero: true}), panel(scores, 'score (0–1)', LINE_COLOURS[theme].scores, {domain: [0, 1]})],
    resolve: {scale: {color: 'independent'}},
  } as TopLevelSpec
}

export function learningCurvesSvg(runName: string, curves: LossCurves, theme: CurveTheme = 'light'): Promise<string> {
  return vegaLiteToSvg(learningCurvesSpec(runName, curves, theme))
}
