export interface RocCurve {
  label: number
  /** False-positive rates, rising from 0 to 1 (empty when the curve is undefined). */
  fpr: number[]
  /** True-positive rates, rising from 0 to 1 (empty when the curve is undefined). */
  tpr: number[]
  /**
   * Decreasing score thresholds: point i counts a sample as this class when its
   * score ≥ thresholds[i]. The first point (0, 0) has max score + 1, as
   * scikit-learn before 1.3 did (it now uses Infinity, which JSON cannot hold).
   */
  thresholds: number[]
  /** Area under the curve (trapezoid rule); null when the class has no positive or no negative sample. */
  auc: number | null
}

export interface RocCurves {
  per_class: RocCurve[]
  /** Mean AUC over the classes whose AUC is defined; null if none is. */
  macro_auc: number | null
}

export interface RocOptions {
  /** Drop points that lie on a straight segment, like scikit-learn's default `drop_intermediate=True`. */
  dropIntermediate?: boolean
}

/** Trapezoid-rule area under y(x), x sorted. */
function trapezoid(x: readonly number[], y: readonly number[]): number {
  let area = 0
  for (let i = 1; i < x.length; i++) area += ((x[i] - x[i - 1]) * (y[i] + y[i - 1])) / 2
  return area
}

/**
 * The binary ROC curve of `scores` against `positive` (scikit-learn's
 * `roc_curve`): samples sorted by decreasing score, one point per distinct
 * score, so tied scores move the curve in one diagonal step.
 */
export function binaryRoc(positive: readonly boolean[], scores: readonly number[], options: RocOptions = {}): Omit<RocCurve, 'label'> {
  if (positive.length !== scores.length) {
    throw new RangeError(`labels and scores differ in length (${positive.length} vs ${scores.length})`)
  }

  for (const score of scores) if (!Number.isFinite(score)) throw new RangeError(`scores must be finite numbers, got ${score}`)

  const order = scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a])
  // Cumulative counts at the last sample of each run of equal scores.
  let fps: number[] = []
  let tps: number[] = []
  let thresholds: number[] = []
  let truePositives = 0
  for (let n = 0; n < order.length; n++) {
    if (positive[order[n]]) truePositives++
    const score = scores[order[n]]
    if (n === order.length - 1 || scores[order[n + 1]] !== score) {
      tps.push(truePositives)
      fps.push(n + 1 - truePositives)
      thresholds.push(score)
    }
  }

  if (options.dropIntermediate !== false && fps.length > 2) {
    // Keep the ends and every point where the curve bends (non-zero second difference).
    const keep = fps.map((_, i) => i === 0 || i === fps.length - 1 || fps[i + 1] - 2 * fps[i] + fps[i - 1] !== 0 || tps[i + 1] - 2 * tps[i] + tps[i - 1] !== 0)
    fps = fps.filter((_, i) => keep[i])
    tps = tps.filter((_, i) => keep[i])
    thresholds = thresholds.filter((_, i) => keep[i])
  }

  const positives = tps.at(-1) ?? 0
  const negatives = fps.at(-1) ?? 0
  if (positives === 0 || negatives === 0) return {fpr: [], tpr: [], thresholds: [], auc: null}

  const fpr = [0, ...fps.map((count) => count / negatives)]
  const tpr = [0, ...tps.map((count) => count / positives)]
  return {fpr, tpr, thresholds: [thresholds[0] + 1, ...thresholds], auc: trapezoid(fpr, tpr)}
}

/**
 * One-vs-rest ROC curve and AUC of every class, from predicted probabilities
 * (`probs[sample][i]` is the probability of `labels[i]`). A class absent from
 * `yTrue` (or making up all of it) has no curve: its arrays are empty, its AUC
 * null, and it is left out of the macro average (scikit-learn warns and gives
 * NaN there).
 */
export function rocCurves(yTrue: ArrayLike<number>, probs: readonly ArrayLike<number>[], labels: readonly number[], options: RocOptions = {}): RocCurves {
  if (yTrue.length !== probs.length) {
    throw new RangeError(`yTrue and probs differ in length (${yTrue.length} vs ${probs.length})`)
  }

  const truth = Array.from(yTrue)
  for (const row of probs) {
    if (row.length !== labels.length) throw new RangeError(`each probability row needs ${labels.length} values, got ${row.length}`)
  }

  const perClass = labels.map((label, i) => ({
    label,
    ...binaryRoc(
      truth.map((value) => value === label),
      probs.map((row) => row[i]),
      options,
    ),
  }))
  const defined = perClass.flatMap((curve) => (curve.auc === null ? [] : [curve.auc]))
  const macroAuc = defined.length === 0 ? null : defined.reduce((sum, auc) => sum + auc, 0) / defined.length
  return {per_class: perClass, macro_auc: macroAuc}
}
