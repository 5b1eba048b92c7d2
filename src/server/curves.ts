/**
 * The dashboard's learning curves, drawn by the plotting library the package
 * already ships (Vega-Lite, rendered to SVG on the server): crisp at any
 * pixel density, titled axes, and the legend below the plot, never on it.
 */
import type {Config, TopLevelSpec} from 'vega-lite'

import {METRICS} from '../artifacts/epoch-log.js'
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

/** Widths the curves can be drawn for (CSS pixels of the box showing them); the page asks for its own so text is never scaled down. */
export const CURVE_WIDTH = {min: 240, max: 2000, default: 640} as const

/** Below this width the two panels are stacked instead of side by side. */
const STACK_BELOW = 600

/** Scores are shown from a round value under their lowest point up to 1: a 0.9–1.0 curve fills the panel instead of its top tenth. */
export function scoreAxisFloor(values: number[]): number {
  const finite = values.filter((value) => Number.isFinite(value))
  if (finite.length === 0) return 0
  const lowest = Math.min(...finite)
  const step = lowest >= 0.9 ? 0.01 : 0.05
  return Math.max(0, Math.floor((lowest - step / 2) / step) * step)
}

export function learningCurvesSpec(runName: string, curves: LossCurves, theme: CurveTheme = 'light', width: number = CURVE_WIDTH.default): TopLevelSpec {
  const points = (metrics: ReadonlyArray<(typeof METRICS)['trainLoss' | 'valLoss' | 'valBalancedAccuracy' | 'valF1Macro']>) =>
    curves.epochs.flatMap((epoch, i) => metrics.map((metric) => ({epoch, series: metric.title, value: curves[metric.name][i]})))
  const losses = points([METRICS.trainLoss, METRICS.valLoss])
  const scores = points([METRICS.valBalancedAccuracy, METRICS.valF1Macro])
  const stacked = width < STACK_BELOW
  // Room for the axis titles, labels and padding around each panel.
  const panelWidth = Math.max(120, Math.floor(stacked ? width - 100 : (width - 190) / 2))
  const floor = Number(scoreAxisFloor(scores.map((point) => point.value)).toFixed(2))
  const panel = (values: typeof losses, title: string, colours: string[], scale: object) => ({
    width: panelWidth,
    height: stacked ? 180 : 220,
    data: {values},
    mark: {type: 'line', point: true, strokeWidth: 2},
    encoding: {
      x: EPOCH_X,
      y: {field: 'value', type: 'quantitative', title, scale},
      // Stacked panels are narrow: their legend lists one series a line, so it is never wider than the plot.
      color: {field: 'series', type: 'nominal', scale: {range: colours}, legend: stacked ? {...LEGEND, direction: 'vertical'} : LEGEND},
      tooltip: [
        {field: 'series', type: 'nominal'},
        {field: 'epoch', type: 'ordinal'},
        {field: 'value', type: 'quantitative', format: '.4f'},
      ],
    },
  })
  const panels = [
    panel(losses, 'loss', LINE_COLOURS[theme].losses, {zero: true}),
    panel(scores, floor > 0 ? `score (from ${floor})` : 'score', LINE_COLOURS[theme].scores, {domain: [floor, 1], zero: false, clamp: true}),
  ]
  return {
    ...themed(theme),
    title: `Learning curves: ${runName}`,
    ...(stacked ? {vconcat: panels} : {hconcat: panels}),
    resolve: {scale: {color: 'independent'}},
  } as TopLevelSpec
}

export function learningCurvesSvg(runName: string, curves: LossCurves, theme: CurveTheme = 'light', width: number = CURVE_WIDTH.default): Promise<string> {
  return vegaLiteToSvg(learningCurvesSpec(runName, curves, theme, width))
}
