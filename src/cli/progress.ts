/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal:
 * piped or redirected output (logs, CI, tests) stays free of control codes.
 */

import {printable} from '../util/printable.js'

export interface ProgressOptions {
  /** Shown before the bar, e.g. a file name or `epoch 3/20`. */
  label: string
  /** Value at completion; unknown totals show the running count only. */
  total?: number
  /** `bytes` formats values as kB/MB; `items` as plain counts. */
  unit?: 'bytes' | 'items'
  /** Where to draw; stderr by default. Drawing happens only if `isTTY` is true. */
  stream?: ProgressStream
  /** Redraw at most this often, so a fast loop does not flood the terminal. */
  minIntervalMs?: number
}

export interface ProgressStream {
  write(chunk: string): unknown
  isTTY?: boolean
  columns?: number
}

export interface Progress {
  /** Set the current value (absolute, not a delta); `detail` follows the counts (e.g. loss, speed, ETA). */
  update(current: number, detail?: string): void
  /** Draw the final state and end the line. Further calls do nothing. */
  done(): void
}

const BAR_WIDTH_MAX = 30
const BAR_WIDTH_MIN = 10
const DEFAULT_COLUMNS = 80
const DEFAULT_INTERVAL_MS = 100

export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr
  if (stream.isTTY !== true) return {update() {}, done() {}}

  const format = options.unit === 'bytes' ? formatBytes : formatCount
  const interval = options.minIntervalMs ?? DEFAULT_INTERVAL_MS
  let current = 0
  let detail: string | undefined
  let lastDraw = Number.NEGATIVE_INFINITY
  let drawn: number | undefined
  let finished = false

  const draw = (): void => {
    lastDraw = Date.now()
    drawn = current
    // A pseudo-terminal may report 0 columns; fall back to the classic width.
    const line = renderLine(printable(options.label), current, options.total, format, stream.columns || DEFAULT_COLUMNS, detail)
    // \r returns to the line start; ESC[K clears what a longer previous line left behind.
    stream.write(`\r${line}\u001B[K`)
  }

  return {
    update(value, text) {
      if (finished) return
      current = value
      detail = text
      const complete = options.total !== undefined && current >= options.total
      if (complete || Date.now() - lastDraw >= interval) draw()
    },
    done() {
      if (finished) return
      finished = true
      if (drawn !== current) draw()
      stream.write('\n')
    },
  }
}

function renderLine(label: string, current: number, total: number | undefined, format: (value: number) => string, columns: number, detail?: string): string {
  const tail = detail ? `  ${detail}` : ''
  if (total === undefined || total <= 0) return `${label} ${format(current)}${tail}`

  const fraction = Math.min(1, Math.max(0, current / total))
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4)
  const counts = `${format(current)}/${format(total)}`
  const room = columns - label.length - percent.length - counts.length - tail.length - 6
  const width = Math.max(BAR_WIDTH_MIN, Math.min(BAR_WIDTH_MAX, room))
  const filled = Math.round(fraction * width)
  return `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${percent} ${counts}${tail}`
}

/** Human-readable size in decimal units (kB = 1000 B), as download tools show them. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`
  const units = ['kB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 'B'
  for (const next of units) {
    // 999.96 kB would print as "1000.0 kB"; move up a unit instead.
    if (value < 999.95) break
    value /= 1000
    unit = next
  }

  return `${value.toFixed(value < 10 ? 2 : 1)} ${unit}`
}

function formatCount(value: number): string {
  return String(value)
}
