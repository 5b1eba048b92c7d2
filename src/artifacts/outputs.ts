/**
 * What the commands print on stdout as JSON, described once: `train`'s
 * summary, `evaluate --json`, `export` and `download-data --json` (`predict`'s
 * answers are in answer.ts). Keys are snake_case and a metric has the name it
 * has in the run's files. Published as JSON Schema under schema/.
 */
import {z} from 'zod'

import {MODEL_KINDS} from '../config.js'
import {DownloadSummary} from '../data/download-settings.js'
import {DECISION_SCORES} from '../evaluation/openset.js'
import {ClassificationReportSchema} from '../evaluation/schema.js'
import {ExportSummarySchema} from '../model/export.js'
import {SplitScoresBySplitSchema} from './schemas.js'

export const TrainSummarySchema = z
  .object({
    run_name: z.string(),
    output_dir: z.string(),
    backend: z.string().describe('the engine that trained: wasm, node or cpu'),
    threads: z.int().positive(),
    model: z.enum(MODEL_KINDS),
    epochs: z.int().positive().describe('epochs trained (early stopping may end a run before --epochs)'),
    best_epoch: z.int().positive().describe('the epoch best.ckpt holds'),
    stop_reason: z.string().nullable().describe('why training stopped early, or null'),
    metrics: SplitScoresBySplitSchema.describe("best.ckpt's scores on each split, as metrics.json's splits"),
    files: z.array(z.string()).describe('the files written, relative to output_dir'),
  })
  .strict()
  .meta({title: 'train output', description: 'What `digit-classification train` prints on stdout (off a terminal, or with --json).'})
export type TrainSummary = z.infer<typeof TrainSummarySchema>

export const EvaluateOutputSchema = z
  .object({
    checkpoint: z.string(),
    checkpoint_id: z.string(),
    split: z.enum(['train', 'val', 'eval', 'test']),
    fingerprint: z.string().describe("the split's fingerprint (the same data as the checkpoint was trained with)"),
    report: ClassificationReportSchema.describe("scikit-learn's classification report: the keys of metrics.json's classification_report"),
    temperature: z.number().positive().describe('the calibration temperature applied to the probabilities (1: none)'),
    ece: z
      .object({bins: z.int().positive(), before: z.number().min(0).max(1), after: z.number().min(0).max(1)})
      .describe('expected calibration error without and with the temperature'),
    open_set: z
      .object({score: z.enum(DECISION_SCORES), threshold: z.number(), known_rate: z.number().min(0).max(1)})
      .nullable()
      .describe("the checkpoint's open-set decision and the share of the split it answers as known; null without one"),
  })
  .strict()
  .meta({title: 'evaluate output', description: 'What `digit-classification evaluate --json` prints on stdout.'})
export type EvaluateOutput = z.infer<typeof EvaluateOutputSchema>

/** Every stdout shape, by the name of its schema file. */
export const outputSchemas = {
  trainOutput: TrainSummarySchema,
  evaluateOutput: EvaluateOutputSchema,
  exportOutput: ExportSummarySchema,
  downloadDataOutput: DownloadSummary.meta({title: 'download-data output', description: 'What `digit-classification download-data --json` prints on stdout.'}),
} as const
