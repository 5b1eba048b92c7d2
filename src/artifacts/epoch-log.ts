/** The trainer's per-epoch record, and its row in logs/metrics.json and logs/metrics.csv: the run file the other artifacts are built from. */
import {z} from 'zod'

/**
 * Logs, checkpoints and requests written before artifact schema 3 call the
 * balanced accuracy `val_accuracy` (`valAccuracy`); they are read under its name.
 */
function renamed(from: string, to: string): (value: unknown) => unknown {
  return (value) => {
    if (typeof value !== 'object' || value === null || !(from in value) || to in value) return value
    const {[from]: moved, ...rest} = value as Record<string, unknown>
    return {...rest, [to]: moved}
  }
}

const EpochLogObject = z.object({
  epoch: z.number().int().positive(),
  trainLoss: z.number(),
  /** Share of training images classified correctly during the epoch, as the steps saw them. */
  trainAccuracy: z.number(),
  valLoss: z.number(),
  /** Balanced accuracy: the mean of per-class recall, so every class counts the same (SPEC §3's macro-averaged accuracy). */
  valBalancedAcc: z.number(),
  valF1Macro: z.number(),
  learningRate: z.number().positive(),
  epochSeconds: z.number().nonnegative(),
})
/** One epoch of the trainer's history (checkpoints keep it; the web app streams it). */
export const EpochLogSchema = z.preprocess(renamed('valAccuracy', 'valBalancedAcc'), EpochLogObject)
export type EpochLog = z.infer<typeof EpochLogObject>

/** A row of logs/metrics.json and logs/metrics.csv: the epoch log in the files' snake_case, as Lightning's CSV logger names its columns. */
export const EpochLogRowSchema = z.object({
  epoch: z.number().int().positive(),
  train_loss: z.number(),
  train_accuracy: z.number(),
  val_loss: z.number(),
  val_balanced_acc: z.number(),
  val_f1_macro: z.number(),
  learning_rate: z.number().positive(),
  epoch_seconds: z.number().nonnegative(),
})
export type EpochLogRow = z.infer<typeof EpochLogRowSchema>

/** A row as read from a file, which may predate the `val_balanced_acc` name. */
export const EpochLogRowFileSchema = z.preprocess(renamed('val_accuracy', 'val_balanced_acc'), EpochLogRowSchema)

export function epochLogRow(log: EpochLog): EpochLogRow {
  return {
    epoch: log.epoch,
    train_loss: log.trainLoss,
    train_accuracy: log.trainAccuracy,
    val_loss: log.valLoss,
    val_balanced_acc: log.valBalancedAcc,
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
    valBalancedAcc: row.val_balanced_acc,
    valF1Macro: row.val_f1_macro,
    learningRate: row.learning_rate,
    epochSeconds: row.epoch_seconds,
  }
}

/** The metrics an epoch logs, by the names the logs and progress lines use (what callbacks may monitor). */
export function loggedMetrics(log: EpochLog): Record<string, number> {
  const {epoch: _epoch, ...metrics} = epochLogRow(log)
  return metrics
}

export const LOGGED_METRICS: readonly string[] = Object.keys(EpochLogRowSchema.shape).filter((key) => key !== 'epoch')
