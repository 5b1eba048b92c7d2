/** The trainer's per-epoch record, and its row in logs/metrics.json and logs/metrics.csv: the run file the other artifacts are built from. */
import {z} from 'zod'

/** One row of the per-epoch training log (CSV and JSON), like Lightning's CSV logger. */
export const EpochLogSchema = z.object({
  epoch: z.number().int().positive(),
  trainLoss: z.number(),
  /** Share of training images classified correctly during the epoch, as the steps saw them. */
  trainAccuracy: z.number(),
  valLoss: z.number(),
  /** Macro-averaged: the mean of per-class recall, so every class counts the same (SPEC §3). */
  valAccuracy: z.number(),
  valF1Macro: z.number(),
  learningRate: z.number().positive(),
  epochSeconds: z.number().nonnegative(),
})
export type EpochLog = z.infer<typeof EpochLogSchema>

/** A row of logs/metrics.json and logs/metrics.csv: the epoch log in the files' snake_case, as Lightning's CSV logger names its columns. */
export const EpochLogRowSchema = z.object({
  epoch: z.number().int().positive(),
  train_loss: z.number(),
  train_accuracy: z.number(),
  val_loss: z.number(),
  val_accuracy: z.number(),
  val_f1_macro: z.number(),
  learning_rate: z.number().positive(),
  epoch_seconds: z.number().nonnegative(),
})
export type EpochLogRow = z.infer<typeof EpochLogRowSchema>

export function epochLogRow(log: EpochLog): EpochLogRow {
  return {
    epoch: log.epoch,
    train_loss: log.trainLoss,
    train_accuracy: log.trainAccuracy,
    val_loss: log.valLoss,
    val_accuracy: log.valAccuracy,
    val_f1_macro: log.valF1Macro,
    learning_rate: log.learningRate,
    epoch_seconds: log.epochSeconds,
  }
}

export function epochLogOfRow(row: EpochLogRow): EpochLog {
  return {
    epoch: row.epoch,
    trainLoss: row.train_loss,
    trainAccuracy: row.train_accuracy,
    valLoss: row.val_loss,
    valAccuracy: row.val_accuracy,
    valF1Macro: row.val_f1_macro,
    learningRate: row.learning_rate,
    epochSeconds: row.epoch_seconds,
  }
}

/**
 * The metrics an epoch logs, by the names the logs and progress lines use
 * (what callbacks may monitor): the log row's columns, and `val_balanced_acc`,
 * the progress line's name for `val_accuracy` (a balanced accuracy).
 */
export function loggedMetrics(log: EpochLog): Record<string, number> {
  const {epoch: _epoch, ...metrics} = epochLogRow(log)
  return {...metrics, val_balanced_acc: log.valAccuracy}
}

export const LOGGED_METRICS: readonly string[] = [...Object.keys(EpochLogRowSchema.shape).filter((key) => key !== 'epoch'), 'val_balanced_acc']
