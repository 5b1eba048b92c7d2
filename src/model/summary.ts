/**
 * A Keras-style model summary: layers, output shapes and parameter counts,
 * printed when training starts. Counts come from `parameterSpecs`, so the
 * summary cannot drift from what the checkpoint stores.
 */
import type {ModelKind} from '../config.js'
import {type NetworkDescription, cnnFeatureShape, featureCount, parameterSpecs} from './network.js'

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

/** Layer names and output shapes, from the description; the parameter prefix of a layer is its name. */
function layers(net: NetworkDescription): Array<[string, number[]]> {
  const rows: Array<[string, number[]]> = [['input', [...net.input]]]
  let [height, width] = net.input
  for (const [i, {conv, bn, filters, pool}] of net.blocks.entries()) {
    rows.push([conv, [height, width, filters]], [bn, [height, width, filters]], [`relu${i + 1}`, [height, width, filters]])
    height /= pool
    width /= pool
    rows.push([`pool${i + 1}`, [height, width, filters]])
  }

  rows.push(['flatten', [featureCount(net)]])
  if (net.hidden) rows.push([net.hidden.name, [net.hidden.units]], ['dropout', [net.hidden.units]])
  rows.push([net.dense.name, [net.dense.units]])
  if (net.blocks.length > 0 && cnnFeatureShape(net)[0] !== height) throw new Error('model summary: the blocks do not pool to the feature shape')
  return rows
}

export function modelSummary(net: NetworkDescription): ModelSummary {
  const kind = net.preset
  const specs = Object.entries(parameterSpecs(net))
  const rows = layers(net).map(([layer, shape]) => {
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

  lines.push(
    `  ${summary.params.toLocaleString('en-US')} parameters, ${summary.trainable.toLocaleString('en-US')} trainable (batch-norm running statistics are not)`,
  )
  return `${lines.join('\n')}\n`
}
