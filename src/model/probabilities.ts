/** Index of the most probable class in row `row` of probabilities [N × k] stored row-major (first one on ties). */
export function argmaxRow(probs: ArrayLike<number>, row: number, k: number): number {
  let best = 0
  for (let c = 1; c < k; c++) if (probs[row * k + c] > probs[row * k + best]) best = c
  return best
}

/** Probabilities [N × k] row-major as one view per sample (no copy). */
export function probabilityRows(probs: Float32Array, k: number): Float32Array[] {
  return Array.from({length: probs.length / k}, (_, i) => probs.subarray(i * k, (i + 1) * k))
}
