/**
 * A Keras-style model summary: layers, output shapes and parameter counts,
 * printed when training starts. Counts come from `parameterSpecs`, so the
 * summary cannot drift from what the checkpoint stores.
 */
import {IMAGE_SIZE, type ModelKind} from '../config.js'
import {parameterSpecs} from './network.js'

export interface SummaryRow {
  layer: string
  /** Output shape without the batch dimension. */
  shape: number[]
  params: number
  trainable: number
}

export interface ModelSummary {
  kind: ModelKind
  rows: SummaryRow[]
  params: number
  trainable: number
}

/** Layer names and output shapes per kind; the parameter prefix of a layer is its name. */
function layers(kind: ModelKind, classCount: number): Array<[string, number[]]> {
  const s = IMAGE_SIZE
  if (kind === 'softmax') return [['input', [s, s, 1]], ['flatten', [s * s]], ['dense', [classCount]]]
  return [
    ['input', [s, s, 1]],
    ['conv1', [s, s, 16]],
    ['bn1', [s, s, 16]],
    ['relu1', [s, s, 16]],
    ['pool1', [s / 2, s / 2, 16]],
    ['conv2', [s / 2, s / 2, 32]],
    ['bn2', [s / 2, s / 2, 32]],
    ['relu2', [s / 2, s / 2, 32]],
    ['pool2', [s / 4, s / 4, 32]],
    ['flatten', [(s / 4) * (s / 4) * 32]],
    ['dense', [classCount]],
  ]
}

export function modelSummary(kind: ModelKind, classCount: number): ModelSummary {
  const specs = Object.entries(parameterSpecs(kind, classCount))
  const rows = layers(kind, classCount).map(([layer, shape]) => {
    const own = specs.filter(([name]) => name.startsWith(`${layer}.`))
    const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1)
    return {
      layer,
      shape,
      params: own.reduce((sum, [, spec]) => sum + size(spec.shape), 0),
      trainable: own.reduce((sum, [, spec]) => sum + (spec.trainable ? size(spec.shape) : 0), 0),
    }
  })
  const counted = rows.reduce((sum, r) => sum + r.params, 0)
  const all = specs.reduce((sum, [, spec]) => sum + spec.shape.reduce((a, b) => a * b, 1), 0)
  if (counted !== all) throw new Error(`model summary of ${kind} misses parameters (${counted} of ${all})`)
  return {kind, rows, params: all, trainable: rows.reduce((sum, r) => sum + r.trainable, 0)}
}

/** The summary as aligned text lines (for stderr). */
export function formatModelSummary(summary: ModelSummary): string {
  const shape = (dims: number[]) => `[B, ${dims.join(', ')}]`
  const width = Math.max(...summary.rows.map((r) => shape(r.shape).length), 'output shape'.length)
  const lines = [`model ${summary.kind}`, `  ${'layer'.padEnd(8)} ${'output shape'.padEnd(width)} ${'params'.padStart(7)}`]
  for (const row of summary.rows) {
    const note = row.params !== row.trainable ? ` (${row.trainable} trainable)` : ''
    lines.push(`  ${row.layer.padEnd(8)} ${shape(row.shape).padEnd(width)} ${row.params.toLocaleString('en-US').padStart(7)}${note}`)
  }

  lines.push(`  ${summary.params.toLocaleString('en-US')} parameters, ${summary.trainable.toLocaleString('en-US')} trainable (batch-norm running statistics are not)`)
  return `${lines.join('\n')}\n`
}
