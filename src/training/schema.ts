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
