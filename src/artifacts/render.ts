/**
 * Vega-Lite spec → SVG (vega, headless) → PNG (resvg). The libraries are
 * imported on first use, so commands that never plot never load them.
 */
import {existsSync, readFileSync} from 'node:fs'
import {getCompileCacheDir} from 'node:module'
import {fileURLToPath} from 'node:url'
import {Worker} from 'node:worker_threads'

import type {ResvgRenderOptions} from '@resvg/resvg-js'
import type {TopLevelSpec} from 'vega-lite'
import {z} from 'zod'

import {rgbaPng} from '../images/png.js'

/** Family of the bundled font; every plot names it, so the output does not depend on system fonts. */
export const PLOT_FONT = 'DejaVu Sans'

/** Plots are laid out in CSS pixels and rasterised at twice that, for sharp text. */
const PIXEL_RATIO = 2

export const FONT_FILES = {regular: 'DejaVuSans.ttf', bold: 'DejaVuSans-Bold.ttf'} as const

/** `fonts/` at the package root, from `src/artifacts` and from `dist/artifacts` alike. */
export function fontPath(file: string): string {
  return fileURLToPath(new URL(`../../fonts/${file}`, import.meta.url))
}

/** The DejaVu TrueType files shipped in the package's `fonts/` folder: no system font is needed. */
export function plotFontFiles(): string[] {
  return Object.values(FONT_FILES).map(fontPath)
}

function renderOptions(): ResvgRenderOptions {
  return {
    background: 'white',
    fitTo: {mode: 'zoom', value: PIXEL_RATIO},
    font: {fontFiles: plotFontFiles(), loadSystemFonts: false, defaultFontFamily: PLOT_FONT, sansSerifFamily: PLOT_FONT},
  }
}

/** One font's advance of each character and kerning of each pair that has one, in font units (fonts/metrics.json). */
const FontMetricsSchema = z.object({advances: z.record(z.string(), z.number()), kerning: z.record(z.string(), z.number())})
const PlotFontMetricsSchema = z.object({unitsPerEm: z.number().positive(), regular: FontMetricsSchema, bold: FontMetricsSchema})
export type FontMetrics = z.infer<typeof FontMetricsSchema>
export type PlotFontMetrics = z.infer<typeof PlotFontMetricsSchema>

/** The width of `text` in em in one weight: its characters' advances and its pairs' kerning, as the font's layout adds them. */
export function textWidthEm(metrics: PlotFontMetrics, weight: 'regular' | 'bold', text: string): number {
  const font = metrics[weight]
  let units = 0
  let previous: string | undefined
  for (const char of text) {
    // A character the table lacks (none a plot of ours writes) counts as an average glyph.
    units += font.advances[char] ?? 0.6 * metrics.unitsPerEm
    if (previous !== undefined) units += font.kerning[previous + char] ?? 0
    previous = char
  }

  return units / metrics.unitsPerEm
}

/** The bundled fonts' metrics (scripts/plot-fonts.ts writes them with the fonts). */
export function plotFontMetrics(): PlotFontMetrics {
  return PlotFontMetricsSchema.parse(JSON.parse(readFileSync(fontPath('metrics.json'), 'utf8')))
}

/** The fields of a vega text item that decide its width. */
interface TextItem {
  text?: unknown
  fontSize?: number | string
  fontWeight?: number | string
}

type WidthOf = (item: TextItem, text?: unknown) => number

/**
 * Without a canvas, vega guesses text widths as 0.8 em per character, far
 * wider than DejaVu Sans: titles then pad plots with blank space and labels
 * get cut early. Measure with the real glyph advances and kerning of the
 * bundled font instead (vega's documented hook: a user-defined `textMetrics.width`).
 */
function textWidthFunction(): WidthOf {
  const metrics = plotFontMetrics()
  const cache = new Map<string, number>()
  return (item, text) => {
    // Truncation to item.limit is vega's job: it calls back here for each candidate, so measure the raw text.
    const value = String(text ?? item.text ?? '').trim()
    const size = item.fontSize === undefined ? 11 : Number(item.fontSize) || 0
    const weight = item.fontWeight
    const isBold = weight === 'bold' || weight === 'bolder' || Number(weight) >= 600
    const key = `${isBold ? 'b' : 'r'}${value}`
    let em = cache.get(key)
    if (em === undefined) {
      em = textWidthEm(metrics, isBold ? 'bold' : 'regular', value)
      cache.set(key, em)
    }

    return em * size
  }
}

let vegaReady: Promise<typeof import('vega')> | undefined

/** vega, with text measured in the bundled font (set up once per process). */
async function loadVega(): Promise<typeof import('vega')> {
  vegaReady ??= (async () => {
    const vega = await import('vega')
    const width = textWidthFunction()
    // vega's typings omit textMetrics, though the object is exported for exactly this override.
    ;(vega as unknown as {textMetrics: {width: WidthOf}}).textMetrics.width = width
    return vega
  })()
  return vegaReady
}

/** Rasterise an SVG document to PNG bytes. */
export async function svgToPng(svg: string): Promise<Buffer> {
  const {Resvg} = await import('@resvg/resvg-js')
  const image = new Resvg(svg, renderOptions()).render()
  return rgbaPng(image.pixels, image.width, image.height)
}

/** Compile a Vega-Lite spec and render it to SVG text with vega's headless renderer. */
export async function vegaLiteToSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([loadVega(), import('vega-lite')])
  const {spec: vegaSpec} = vegaLite.compile(spec)
  const view = new vega.View(vega.parse(vegaSpec), {renderer: 'none'})
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

/** Defaults every plot shares: white background, the bundled font, readable sizes. */
export const BASE_CONFIG = {
  background: 'white',
  padding: 12,
  config: {
    font: PLOT_FONT,
    title: {fontSize: 15, anchor: 'middle' as const},
    axis: {labelFontSize: 12, titleFontSize: 13},
    legend: {labelFontSize: 12, titleFontSize: 12},
  },
}

/** Render a Vega-Lite spec to PNG bytes on this thread. */
export async function renderHere(spec: TopLevelSpec): Promise<Buffer> {
  return svgToPng(await vegaLiteToSvg(spec))
}

/** Load the plotting libraries and render one small plot, so the first real one finds everything compiled. */
export async function warmUpRenderer(): Promise<void> {
  await renderHere({
    ...BASE_CONFIG,
    title: 'Warm-up 0123456789',
    data: {values: [{x: 1, y: 2}]},
    mark: 'rect',
    encoding: {x: {field: 'x', type: 'ordinal'}, y: {field: 'y', type: 'quantitative'}},
  })
}

/**
 * The renderer thread's module: the build's one-file bundle of it and its
 * libraries (scripts/bundle-plots.ts), which loads 0.2 s of a core sooner than
 * vega's many modules, when it is there (dist/); else the module itself (src/ under tsx).
 */
export function renderWorkerUrl(): URL {
  const bundle = new URL('./render-worker.bundle.js', import.meta.url)
  if (existsSync(bundle)) return bundle
  return new URL(`./render-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)
}

/** A thread that renders plots (./render-worker.ts), with the requests it has not answered yet. */
class RenderWorker {
  private readonly worker: Worker
  private readonly pending = new Map<number, {resolve: (png: Buffer) => void; reject: (error: Error) => void}>()
  private nextId = 0
  failed = false

  constructor() {
    // The process's own flags, but not --input-type (for -e code only; a worker file refuses it).
    const execArgv = process.execArgv.filter((flag) => !flag.startsWith('--input-type'))
    this.worker = new Worker(renderWorkerUrl(), {execArgv, workerData: {compileCache: getCompileCacheDir()}})
    this.worker.on('message', ({id, png, error}: {id: number; png?: Uint8Array; error?: string}) => {
      const request = this.pending.get(id)
      if (!request) return
      this.pending.delete(id)
      if (this.pending.size === 0) this.worker.unref()
      if (png) request.resolve(Buffer.from(png.buffer, png.byteOffset, png.byteLength))
      else request.reject(new Error(error ?? 'the plot renderer failed'))
    })
    const fail = (error: Error) => {
      this.failed = true
      for (const request of this.pending.values()) request.reject(error)
      this.pending.clear()
    }
    this.worker.on('error', fail)
    this.worker.on('exit', () => fail(new Error('the plot renderer stopped')))
    // An idle renderer never keeps the process alive (unref'd after its listeners, which would ref it again).
    this.worker.unref()
  }

  /** Stop the thread (and wait until it has), so the process never exits while it is still loading its libraries. */
  async stop(): Promise<void> {
    await this.worker.terminate()
  }

  render(spec: TopLevelSpec): Promise<Buffer> {
    const id = this.nextId++
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(id, {resolve, reject})
      this.worker.ref()
      this.worker.postMessage({id, spec})
    })
  }
}

let renderWorker: RenderWorker | undefined

/**
 * Start loading the plotting libraries on a thread of their own; from then on
 * `renderVegaLite` renders there (the same bytes as on the main thread). A
 * training run calls this first, so vega and resvg load while it
 * trains instead of after it. Idempotent; a renderer that cannot start or
 * fails leaves rendering on the main thread.
 */
export function startRenderWorker(): void {
  if (renderWorker && !renderWorker.failed) return
  try {
    renderWorker = new RenderWorker()
  } catch {
    renderWorker = undefined
  }
}

/**
 * Stop the renderer thread, if one runs, before a run ends without plots (an error or Ctrl-C): exiting the
 * process while that thread is still starting can abort it in V8 ("Check failed: (location_) != nullptr").
 */
export async function stopRenderWorker(): Promise<void> {
  const worker = renderWorker
  renderWorker = undefined
  await worker?.stop().catch(() => {})
}

export async function renderVegaLite(spec: TopLevelSpec): Promise<Buffer> {
  const worker = renderWorker
  if (worker && !worker.failed) {
    try {
      return await worker.render(spec)
    } catch {
      // Rendered here instead: the same code gives the same bytes.
    }
  }

  return renderHere(spec)
}
