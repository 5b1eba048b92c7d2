import {z} from 'zod'

import {DEFAULT_CLASSES, type ClassLabel} from '../../config.js'

/** A digit; which digits a row may hold is its model's classes, the keys of its `probs`. */
export const LabelSchema = z.int().min(0).max(9)

/** Probability per class label of the row's model, keyed by the label as text, as `predict` prints it: its keys are that model's classes. */
export const ProbsSchema = z
  .record(z.string().regex(/^\d$/, 'keys are digits'), z.number().min(0).max(1))
  .refine((probs) => Object.keys(probs).length >= 2, 'a model knows at least two classes')
export type Probs = z.infer<typeof ProbsSchema>

/** Feedback that the image was none of its model's digits, or no digit at all. */
export const OTHER = 'other'
/** What a user may say an image was: one of its model's digits, or `other`. */
export const FeedbackLabelSchema = z.union([LabelSchema, z.literal(OTHER)])
export type FeedbackLabel = z.infer<typeof FeedbackLabelSchema>

/** How the `feedback` column stores `other` (digits are stored as themselves): never a class, so never equal to `predicted`. */
export const OTHER_FEEDBACK_CODE = -1

/** The classes of the model that made a prediction: the keys of its probabilities, ascending. */
export function recordClasses(record: {probs: Probs}): ClassLabel[] {
  return Object.keys(record.probs)
    .map(Number)
    .sort((a, b) => a - b)
}

export const PREDICTION_SOURCES = ['canvas', 'upload', 'url'] as const

/** What the server logs for one prediction. */
const NewPredictionShape = z.object({
  thumbnail: z.string().startsWith('data:image/png;base64,'),
  predicted: LabelSchema,
  confidence: z.number().min(0).max(1),
  probs: ProbsSchema,
  checkpointId: z.string().min(1),
  source: z.enum(PREDICTION_SOURCES),
  /** Whether the answer took the image as one of its model's digits (absent: not said, as in rows logged before it was stored). */
  known: z.boolean().optional(),
  /** Why not, when `known` is false: "no digit" or "not one of 0, 5, 8". */
  reason: z.string().min(1).optional(),
})
const predictedAmongClasses = (p: {predicted: number; probs: Probs}) => String(p.predicted) in p.probs
export const NewPredictionSchema = NewPredictionShape.refine(predictedAmongClasses, {
  message: "the prediction must be one of the model's classes",
  path: ['predicted'],
})
export type NewPrediction = z.infer<typeof NewPredictionSchema>

/** One logged prediction, as stored and as the history endpoint returns it; its labels are among its model's classes. */
export const PredictionRecordSchema = NewPredictionShape.extend({
  id: z.number().int().positive(),
  createdAt: z.string(),
  /** null for rows logged before the answer's `known` was stored. */
  known: z.boolean().nullable(),
  reason: z.string().nullable(),
  feedback: FeedbackLabelSchema.nullable(),
  feedbackAt: z.string().nullable(),
})
  .refine(predictedAmongClasses, {message: "the prediction must be one of the model's classes", path: ['predicted']})
  .refine((p) => p.feedback === null || p.feedback === OTHER || String(p.feedback) in p.probs, {
    message: 'the feedback must be one of the model\'s classes or "other"',
    path: ['feedback'],
  })
export type PredictionRecord = z.infer<typeof PredictionRecordSchema>

/** Filters of the history: by predicted label, and by what the user said about it (`wrong` includes `other`). */
export const FEEDBACK_FILTERS = ['any', 'none', 'given', 'correct', 'wrong', OTHER] as const
export type FeedbackFilter = (typeof FEEDBACK_FILTERS)[number]

export const HISTORY_PAGE = {defaultLimit: 50, maxLimit: 500} as const

export const HistoryQuerySchema = z
  .object({
    predicted: z.coerce.number().pipe(LabelSchema).optional(),
    feedback: z.enum(FEEDBACK_FILTERS).default('any'),
    limit: z.coerce.number().int().min(1).max(HISTORY_PAGE.maxLimit).default(HISTORY_PAGE.defaultLimit),
    offset: z.coerce.number().int().min(0).default(0),
  })
  .strict()
export type HistoryQuery = z.infer<typeof HistoryQuerySchema>

export interface HistoryPage {
  items: PredictionRecord[]
  /** Rows matching the filters, all pages together. */
  total: number
  limit: number
  offset: number
}

/**
 * The prediction log. Two implementations (embedded SQLite, PostgreSQL) share
 * the schema and the migration list, so the web app cannot tell them apart.
 */
export interface PredictionStore {
  readonly kind: 'sqlite' | 'postgres'
  /** Where the data lives, without credentials (a file path or host/database). */
  readonly location: string
  insert(prediction: NewPrediction): Promise<PredictionRecord>
  /** Record the true label (the caller checks it is one of the row's classes, see `recordClasses`, or `other`); undefined when no prediction has this id. */
  setFeedback(id: number, label: FeedbackLabel): Promise<PredictionRecord | undefined>
  get(id: number): Promise<PredictionRecord | undefined>
  list(query: HistoryQuery): Promise<HistoryPage>
  count(): Promise<number>
  /** Highest migration version applied. */
  schemaVersion(): Promise<number>
  /**
   * Claim the right to train, across every server sharing this database:
   * resolves to the function that gives it back, or undefined when another
   * holder has it. Released as well when the holder's process ends.
   */
  claimTraining(): Promise<(() => Promise<void>) | undefined>
  /**
   * Commit a write that leaves nothing behind (a row inserted and deleted in
   * one transaction): whether writes go through again after one failed.
   */
  probeWrite(): Promise<void>
  /**
   * Whether an error thrown by this store means the database is not there
   * (connection lost, disk full, file unreadable), as opposed to a bug or a
   * value the schema refuses.
   */
  isOutage(error: unknown): boolean
  close(): Promise<void>
}

/** What the write probe inserts and deletes again: a row of a prediction's usual size. */
export const PROBE_PREDICTION = {
  thumbnail: `data:image/png;base64,${'A'.repeat(1024)}`,
  predicted: DEFAULT_CLASSES[0],
  confidence: 1,
  probs: '{}',
  checkpointId: 'write-probe',
  source: 'canvas',
} as const

/** A row as both databases return it (snake_case columns, probs as JSON text). */
export interface PredictionRow {
  id: number | string
  created_at: string | Date
  thumbnail: string
  predicted: number
  confidence: number
  probs: string
  checkpoint_id: string
  source: string
  feedback: number | null
  feedback_at: string | Date | null
  /** 1/0 in SQLite, a boolean in PostgreSQL; null before migration 3. */
  known: number | boolean | null
  reason: string | null
}

/** The `feedback` column's value for a label. */
export function feedbackCode(label: FeedbackLabel): number {
  return label === OTHER ? OTHER_FEEDBACK_CODE : label
}

const isoTime = (value: string | Date): string => (value instanceof Date ? value.toISOString() : value)

export function rowToRecord(row: PredictionRow): PredictionRecord {
  return PredictionRecordSchema.parse({
    id: Number(row.id),
    createdAt: isoTime(row.created_at),
    thumbnail: row.thumbnail,
    predicted: row.predicted,
    confidence: row.confidence,
    probs: JSON.parse(row.probs) as unknown,
    checkpointId: row.checkpoint_id,
    source: row.source,
    known: row.known === null ? null : Boolean(row.known),
    reason: row.reason,
    feedback: row.feedback === OTHER_FEEDBACK_CODE ? OTHER : row.feedback,
    feedbackAt: row.feedback_at === null ? null : isoTime(row.feedback_at),
  })
}

/**
 * WHERE clause of a history query, shared by both stores; `placeholder(n)`
 * spells the n-th parameter in the store's dialect (`?` or `$n`).
 */
export function historyWhere(query: HistoryQuery, placeholder: (n: number) => string): {sql: string; params: number[]} {
  const clauses: string[] = []
  const params: number[] = []
  if (query.predicted !== undefined) {
    params.push(query.predicted)
    clauses.push(`predicted = ${placeholder(params.length)}`)
  }

  const feedbackClause: Record<FeedbackFilter, string | undefined> = {
    any: undefined,
    none: 'feedback IS NULL',
    given: 'feedback IS NOT NULL',
    correct: 'feedback = predicted',
    // `other` is stored as a code no prediction has: an `other` is wrong too.
    wrong: 'feedback <> predicted',
    other: `feedback = ${OTHER_FEEDBACK_CODE}`,
  }
  const clause = feedbackClause[query.feedback]
  if (clause) clauses.push(clause)
  return {sql: clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '', params}
}
