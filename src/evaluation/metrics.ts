import type {ClassificationReport, ClassScores} from './schema.js'

/**
 * Position of each label in `labels`, as a dense lookup (labels are small
 * non-negative integers), so counting stays one array access per sample.
 */
function labelIndex(labels: readonly number[]): Int32Array {
  if (labels.length === 0) throw new RangeError('labels must not be empty')
  let max = 0
  for (const label of labels) {
    if (!Number.isInteger(label) || label < 0) throw new RangeError(`labels must be non-negative integers, got ${label}`)
    max = Math.max(max, label)
  }

  const index = new Int32Array(max + 1).fill(-1)
  for (const [i, label] of labels.entries()) {
    if (index[label] !== -1) throw new RangeError(`label ${label} is listed twice`)
    index[label] = i
  }

  return index
}

function position(index: Int32Array, label: number, role: string): number {
  const i = Number.isInteger(label) && label >= 0 && label < index.length ? index[label] : -1
  if (i === -1) throw new RangeError(`${role} label ${label} is not one of the report's labels`)
  return i
}

/** confusion[i * k + j]: samples of true labels[i] predicted as labels[j]. */
function confusionCounts(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, labels: readonly number[]): Int32Array {
  if (yTrue.length !== yPred.length) {
    throw new RangeError(`yTrue and yPred differ in length (${yTrue.length} vs ${yPred.length})`)
  }

  const index = labelIndex(labels)
  const k = labels.length
  const counts = new Int32Array(k * k)
  for (let n = 0; n < yTrue.length; n++) {
    counts[position(index, yTrue[n], 'true') * k + position(index, yPred[n], 'predicted')]++
  }

  return counts
}

/** Zero when the denominator is zero: scikit-learn's `zero_division=0`, never NaN. */
function ratio(numerator: number, denominator: number): number {
  return denominator === 0 ? 0 : numerator / denominator
}

/**
 * F1 = 2PR / (P + R) = 2TP / (2TP + FP + FN) = 2TP / (predicted + support):
 * computed from counts, as scikit-learn does, so the 0/0 cases of precision
 * and recall never reach it.
 */
function f1(truePositives: number, predicted: number, support: number): number {
  return ratio(2 * truePositives, predicted + support)
}

/**
 * Per-class precision, recall, F1 and support, their macro and support-weighted
 * averages, accuracy, balanced accuracy and the confusion matrix, the way
 * scikit-learn's `classification_report` computes them.
 *
 * A class never predicted has precision 0; a class absent from `yTrue` has
 * recall 0 (and support 0); F1 is 0 when precision + recall is 0. This is
 * scikit-learn's `zero_division=0`: the report never holds NaN, and such a
 * class still pulls the macro averages down. Every label in `yTrue`/`yPred`
 * must be one of `labels`.
 */
export function classificationReport(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, labels: readonly number[]): ClassificationReport {
  const k = labels.length
  const counts = confusionCounts(yTrue, yPred, labels)
  const total = yTrue.length

  const perClass: Record<string, ClassScores> = {}
  const scores: ClassScores[] = []
  let correct = 0
  for (let i = 0; i < k; i++) {
    let support = 0
    let predicted = 0
    for (let j = 0; j < k; j++) {
      support += counts[i * k + j]
      predicted += counts[j * k + i]
    }

    const truePositives = counts[i * k + i]
    correct += truePositives
    const precision = ratio(truePositives, predicted)
    const recall = ratio(truePositives, support)
    const row = {precision, recall, f1: f1(truePositives, predicted, support), support}
    perClass[String(labels[i])] = row
    scores.push(row)
  }

  const average = (pick: (row: ClassScores) => number, weighted: boolean): number => {
    let sum = 0
    for (const row of scores) sum += pick(row) * (weighted ? row.support : 1)
    return ratio(sum, weighted ? total : k)
  }

  const averages = (weighted: boolean): ClassScores => ({
    precision: average((row) => row.precision, weighted),
    recall: average((row) => row.recall, weighted),
    f1: average((row) => row.f1, weighted),
    support: total,
  })

  const confusionMatrix: number[][] = []
  for (let i = 0; i < k; i++) confusionMatrix.push(Array.from(counts.subarray(i * k, (i + 1) * k)))

  const macroAvg = averages(false)
  return {
    labels: [...labels],
    per_class: perClass,
    accuracy: ratio(correct, total),
    balanced_accuracy: macroAvg.recall,
    macro_avg: macroAvg,
    weighted_avg: averages(true),
    confusion_matrix: confusionMatrix,
    total,
  }
}

/** Macro-averaged F1 (every class counts the same), as in {@link classificationReport}. */
export function macroF1(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, labels: readonly number[]): number {
  return classificationReport(yTrue, yPred, labels).macro_avg.f1
}
