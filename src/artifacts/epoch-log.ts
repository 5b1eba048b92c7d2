/**
 * The trainer's per-epoch record: the metrics the module and the trainer log,
 * by the one name each has everywhere (logs/metrics.json and logs/metrics.csv
 * rows, checkpoints, the web app's stream, the progress line, and what
 * callbacks monitor), as Lightning's CSV logger names its columns.
 */
import {z} from 'zod'

export const EpochLogSchema = z.object({
  epoch: z.number().int().positive(),
  train_loss: z.number(),
  /** Share of training images classified correctly during the epoch, as the steps saw them. */
  train_accuracy: z.number(),
  val_loss: z.number(),
  /** Balanced accuracy: the mean of per-class recall, so every class counts the same (SPEC §3's macro-averaged accuracy). */
  val_balanced_accuracy: z.number(),
  val_f1_macro: z.number(),
  learning_rate: z.number().positive(),
  epoch_seconds: z.number().nonnegative(),
})
export type EpochLog = z.infer<typeof EpochLogSchema>

/** The metrics an epoch logs, by name (what callbacks may monitor). */
export function loggedMetrics(log: EpochLog): Record<string, number> {
  const {epoch: _epoch, ...metrics} = log
  return metrics
}

export const LOGGED_METRICS: readonly string[] = Object.keys(EpochLogSchema.shape).filter((key) => key !== 'epoch')
