import Table from 'cli-table3'

import type {ClassificationReport, ClassScores} from './schema.js'

const DIGITS = 4
const HEADERS = ['precision', 'recall', 'f1-score', 'support']
const COLUMN = 9
const LONGEST_HEADING = 'weighted avg'

/**
 * `x.toFixed(digits)`, except that exact ties round half to even, as Python's
 * `format(x, '.4f')` does (0.03125 → 0.0312, where toFixed gives 0.0313), so the
 * report matches scikit-learn's digit for digit.
 */
export function formatFixed(x: number, digits: number): string {
  const scale = 10 ** digits
  const scaled = x * scale
  const floor = Math.floor(scaled)
  // A tie is exact only if (2n+1) / (2·10^d) is itself a double, which needs 5^d to divide 2n+1.
  if (scaled - floor === 0.5 && floor % 2 === 0 && (2 * floor + 1) % 5 ** digits === 0 && (floor + 0.5) / scale === x) {
    return (floor / scale).toFixed(digits)
  }

  return x.toFixed(digits)
}

function scoreRow(heading: string, scores: ClassScores, width: number): string {
  const cells = [scores.precision, scores.recall, scores.f1].map((value) => formatFixed(value, DIGITS).padStart(COLUMN))
  return `${heading.padStart(width)}  ${cells.join(' ')} ${String(scores.support).padStart(COLUMN)}`
}

/**
 * The report as scikit-learn's `classification_report(digits=4)` prints it:
 * the layout users of the original know, kept verbatim (no trailing newline).
 */
export function formatClassificationReport(report: ClassificationReport): string {
  const names = report.labels.map(String)
  const width = Math.max(LONGEST_HEADING.length, DIGITS, ...names.map((name) => name.length))
  const lines = [`${''.padStart(width)} ${HEADERS.map((header) => ` ${header.padStart(COLUMN)}`).join('')}`, '']
  for (const name of names) {
    const scores = report.per_class[name]
    if (scores === undefined) throw new RangeError(`the report has no scores for label ${name}`)
    lines.push(scoreRow(name, scores, width))
  }

  const accuracy = formatFixed(report.accuracy, DIGITS).padStart(COLUMN)
  lines.push(
    '',
    `${'accuracy'.padStart(width)}  ${''.padStart(COLUMN)} ${''.padStart(COLUMN)} ${accuracy} ${String(report.total).padStart(COLUMN)}`,
    scoreRow('macro avg', report.macro_avg, width),
    scoreRow('weighted avg', report.weighted_avg, width),
  )
  return lines.join('\n')
}

/** The confusion matrix as a plain (colourless) table: true labels down, predicted labels across. */
export function formatConfusionMatrix(report: ClassificationReport): string {
  const table = new Table({
    head: ['', ...report.labels.map((label) => `pred ${label}`)],
    colAligns: ['left', ...report.labels.map(() => 'right' as const)],
    style: {head: [], border: [], compact: true},
  })
  for (const [i, label] of report.labels.entries()) {
    const row = report.confusion_matrix[i]
    if (row === undefined) throw new RangeError(`the confusion matrix has no row for label ${label}`)
    table.push([`true ${label}`, ...row.map(String)])
  }

  return table.toString()
}
