import {z} from 'zod'

/** Per-class scores, as scikit-learn's classification_report gives them. */
export const ClassScoresSchema = z.object({
  precision: z.number(),
  recall: z.number(),
  f1: z.number(),
  support: z.number().int().nonnegative(),
})
export type ClassScores = z.infer<typeof ClassScoresSchema>

/**
 * A classification report over the model's classes. Scores of a class
 * with no predicted (or no true) samples are 0, scikit-learn's `zero_division=0`.
 */
export const ClassificationReportSchema = z.object({
  labels: z.array(z.number().int()),
  per_class: z.record(z.string(), ClassScoresSchema),
  accuracy: z.number(),
  /** Mean of per-class recall: "every class counts the same" (balanced accuracy). */
  balanced_accuracy: z.number(),
  macro_avg: ClassScoresSchema,
  weighted_avg: ClassScoresSchema,
  /** confusion_matrix[i][j]: samples of true labels[i] predicted as labels[j]. */
  confusion_matrix: z.array(z.array(z.number().int().nonnegative())),
  total: z.number().int().nonnegative(),
})
export type ClassificationReport = z.infer<typeof ClassificationReportSchema>
