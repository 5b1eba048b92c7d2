/**
 * Shapes of the run artifacts (SPEC §5). Every JSON file a run writes is
 * checked against its schema here before it reaches the disk, and
 * `scripts/emit-json-schemas.ts` publishes the same schemas as JSON Schema
 * under schema/, so dashboards and scripts can rely on them.
 */
import {z} from 'zod'

import {CLASSES, SELECTIONS} from '../config.js'
import {ECE_BINS} from '../evaluation/calibration.js'
import {ClassificationReportSchema} from '../evaluation/schema.js'

const LabelSchema = z.literal(CLASSES)
const CountSchema = z.int().nonnegative()
const ProbabilitySchema = z.number().min(0).max(1)
const EpochNumberSchema = z.int().positive()

/** Tolerance on the sum of a probability vector: float32 softmax outputs are off by ~1e-7 per class. */
const PROBABILITY_SUM_TOLERANCE = 1e-3

/** File names of the artifacts, in the order a run writes them. */
export const ARTIFACT_FILES = {
  metrics: 'metrics.json',
  predictions: 'predictions.json',
  lossCurves: 'loss_curves.json',
  confusionMatrix: 'confusion_matrix.png',
  gallery: 'gallery.png',
  rocCurves: 'roc_curves.json',
  rocPlot: 'roc_curves.png',
  trainingDynamics: 'training_dynamics.json',
  trainingDynamicsPlot: 'training_dynamics.png',
  timingStats: 'timing_stats.json',
  timingPlot: 'timing_stats.png',
  reliability: 'reliability.json',
  reliabilityPlot: 'reliability.png',
  runMetadata: 'run_metadata.json',
} as const

// ---------------------------------------------------------------- metrics.json

export const SplitMetricsSchema = z
  .object({
    samples: CountSchema,
    loss: z.number().nonnegative().describe('mean cross-entropy'),
    accuracy: ProbabilitySchema,
    macroAccuracy: ProbabilitySchema.describe('mean per-class recall: every class counts the same'),
    f1Macro: ProbabilitySchema,
  })
  .meta({description: 'Scores of the exported model on one split.'})
export type SplitMetrics = z.infer<typeof SplitMetricsSchema>

export const SplitMetricsBySplitSchema = z.object({
  train: SplitMetricsSchema,
  val: SplitMetricsSchema,
  eval: SplitMetricsSchema,
  test: SplitMetricsSchema.optional().describe('the official MNIST t10k images of the classes, when available'),
})
export type SplitMetricsBySplit = z.infer<typeof SplitMetricsBySplitSchema>

export const MetricsSchema = z
  .object({
    classes: z.array(LabelSchema).length(CLASSES.length),
    epochs: EpochNumberSchema.describe('number of epochs run (early stopping may end a run before the requested count)'),
    bestEpoch: EpochNumberSchema.describe('epoch of the best validation macro-F1, whose weights are exported'),
    splits: SplitMetricsBySplitSchema,
    classificationReport: ClassificationReportSchema.describe('report of the evaluation split'),
    testClassificationReport: ClassificationReportSchema.optional().describe('report of the test split, when evaluated'),
  })
  .refine((m) => m.bestEpoch <= m.epochs, {message: 'bestEpoch must not exceed epochs', path: ['bestEpoch']})
  .meta({title: 'metrics.json', description: 'Final scores of a training run per split, with the classification report of the evaluation split.'})
export type Metrics = z.infer<typeof MetricsSchema>

// ------------------------------------------------------------ predictions.json

export const PredictionSchema = z
  .object({
    index: CountSchema.describe('position of the sample in its split'),
    datasetIndex: CountSchema.describe('index of the image in the MNIST file named by datasetFile'),
    trueLabel: LabelSchema,
    predictedLabel: LabelSchema,
    probs: z.array(ProbabilitySchema).length(CLASSES.length).describe('class probabilities in the order of `classes`'),
  })
  .refine((p) => Math.abs(p.probs.reduce((sum, x) => sum + x, 0) - 1) <= PROBABILITY_SUM_TOLERANCE, {
    message: 'probs must sum to 1 (softmax outputs, not logits)',
    path: ['probs'],
  })
export type Prediction = z.infer<typeof PredictionSchema>

export const PredictionSplitSchema = z.enum(['train', 'val', 'eval', 'test'])
export type PredictionSplit = z.infer<typeof PredictionSplitSchema>

export const PredictionsSchema = z
  .object({
    split: PredictionSplitSchema,
    datasetFile: z.string().min(1).describe('the MNIST images file that datasetIndex points into'),
    classes: z.array(LabelSchema).length(CLASSES.length).describe('labels in the order of every probs vector'),
    samples: z.array(PredictionSchema),
  })
  .meta({title: 'predictions.json', description: 'Per-sample predictions of the exported model on one split (the evaluation split for a training run).'})
export type Predictions = z.infer<typeof PredictionsSchema>

// ------------------------------------------------------------ loss_curves.json

export const LossCurvePointSchema = z.object({
  epoch: EpochNumberSchema,
  trainLoss: z.number(),
  trainAccuracy: ProbabilitySchema,
  valLoss: z.number(),
  valAccuracy: ProbabilitySchema,
  valF1Macro: ProbabilitySchema,
})
export type LossCurvePoint = z.infer<typeof LossCurvePointSchema>

export const LossCurvesSchema = z
  .object({epochs: z.array(LossCurvePointSchema).min(1)})
  .meta({title: 'loss_curves.json', description: 'Training and validation loss, accuracy and macro-F1 per epoch.'})
export type LossCurves = z.infer<typeof LossCurvesSchema>

// ------------------------------------------------------------- roc_curves.json

export const RocCurveSchema = z
  .object({
    label: z
      .int()
      .refine((label) => (CLASSES as readonly number[]).includes(label), {message: `label must be one of ${CLASSES.join(', ')}`})
      .describe(`the positive class (one of ${CLASSES.join(', ')}); all others are negative (one-vs-rest)`),
    fpr: z.array(ProbabilitySchema).describe('false-positive rates, rising from 0 to 1; empty when the curve is undefined'),
    tpr: z.array(ProbabilitySchema).describe('true-positive rates, rising from 0 to 1; empty when the curve is undefined'),
    thresholds: z.array(z.number()).describe('decreasing score thresholds, one per point (the first is max score + 1)'),
    auc: ProbabilitySchema.nullable().describe('area under the curve; null when the split has no positive or no negative sample'),
  })
  .refine((c) => c.fpr.length === c.tpr.length && c.tpr.length === c.thresholds.length, {
    message: 'fpr, tpr and thresholds must have the same length',
  })
export type RocCurve = z.infer<typeof RocCurveSchema>

export const RocCurvesSchema = z
  .object({
    perClass: z.array(RocCurveSchema).min(1),
    macroAuc: ProbabilitySchema.nullable().describe('mean AUC over the classes whose AUC is defined; null if none is'),
  })
  .meta({title: 'roc_curves.json', description: 'One-vs-rest ROC curve and AUC per class on the evaluation split.'})
export type RocCurves = z.infer<typeof RocCurvesSchema>

// ------------------------------------------------------ training_dynamics.json

export const TrainingDynamicsSchema = z
  .object({
    epochs: z
      .array(
        z.object({
          epoch: EpochNumberSchema,
          learningRate: z.number().positive(),
          trainLoss: z.number(),
          valLoss: z.number(),
        }),
      )
      .min(1),
    learningRateChanges: z
      .array(z.object({epoch: EpochNumberSchema, from: z.number().positive(), to: z.number().positive()}))
      .describe('epochs whose learning rate differs from the previous epoch (reduce-on-plateau steps)'),
  })
  .meta({title: 'training_dynamics.json', description: 'Learning-rate schedule and losses per epoch.'})
export type TrainingDynamics = z.infer<typeof TrainingDynamicsSchema>

// ----------------------------------------------------------- timing_stats.json

const ImagesPerSecondSchema = z.number().nonnegative().nullable().describe('null when the duration is too short to measure')

export const TimingStatsSchema = z
  .object({
    epochs: z
      .array(z.object({epoch: EpochNumberSchema, seconds: z.number().nonnegative(), imagesPerSecond: ImagesPerSecondSchema}))
      .min(1),
    summary: z.object({
      epochs: EpochNumberSchema,
      imagesPerEpoch: CountSchema.describe('training images seen per epoch'),
      totalSeconds: z.number().nonnegative(),
      meanSeconds: z.number().nonnegative(),
      medianSeconds: z.number().nonnegative(),
      minSeconds: z.number().nonnegative(),
      maxSeconds: z.number().nonnegative(),
      imagesPerSecond: ImagesPerSecondSchema.describe('training images over total epoch wall time (validation included)'),
    }),
  })
  .meta({title: 'timing_stats.json', description: 'Wall-clock duration of every epoch, and a summary.'})
export type TimingStats = z.infer<typeof TimingStatsSchema>

// ------------------------------------------------------------ reliability.json

export const ReliabilityBinSchema = z.object({
  lower: ProbabilitySchema,
  upper: ProbabilitySchema,
  count: z.int().nonnegative(),
  accuracy: ProbabilitySchema.nullable().describe('share right among the bin\'s predictions; null for an empty bin'),
  confidence: ProbabilitySchema.nullable().describe('mean top probability in the bin; null for an empty bin'),
})

const CurveSchema = z.object({
  ece: ProbabilitySchema.describe('expected calibration error: Σ |B|/n · |accuracy(B) − confidence(B)|'),
  bins: z.array(ReliabilityBinSchema).length(ECE_BINS),
})

export const ReliabilitySchema = z
  .object({
    schemaVersion: z.literal(1),
    split: z.enum(['train', 'val', 'eval', 'test']),
    samples: z.int().nonnegative(),
    temperature: z.number().positive().describe('logits are divided by this before the softmax (1: no scaling); fitted on the validation split'),
    before: CurveSchema.describe('the network\'s own probabilities'),
    after: CurveSchema.describe('probabilities after temperature scaling'),
  })
  .meta({title: 'reliability.json', description: `Confidence against accuracy in ${ECE_BINS} equal-width bins, before and after temperature scaling (Guo et al. 2017).`})
export type ReliabilityDocument = z.infer<typeof ReliabilitySchema>

// ----------------------------------------------------------- run_metadata.json

export const SplitDescriptionSchema = z
  .object({
    size: CountSchema,
    perClass: z.record(z.string(), CountSchema).describe('images per class label'),
    fingerprint: z.string().min(1).describe('hash of the chosen indices, labels and pixels'),
  })
  .refine((s) => Object.values(s.perClass).reduce((sum, n) => sum + n, 0) === s.size, {
    message: 'perClass counts must add up to size',
    path: ['perClass'],
  })
export type SplitDescription = z.infer<typeof SplitDescriptionSchema>

export const DatasetDescriptionSchema = z.object({
  source: z.string().min(1).describe('where the images come from, e.g. the MNIST training files'),
  classes: z.array(LabelSchema).length(CLASSES.length),
  classCounts: z.record(z.string(), CountSchema).describe('images per class in the curated subset'),
  splits: z.object({
    train: SplitDescriptionSchema,
    val: SplitDescriptionSchema,
    eval: SplitDescriptionSchema,
    test: SplitDescriptionSchema.optional(),
  }),
})
export type DatasetDescription = z.infer<typeof DatasetDescriptionSchema>

export const TrainingConfigSchema = z.object({
  seed: z.int(),
  evalRatio: z.number().gt(0).lt(1),
  valRatio: z.number().gt(0).lt(1),
  epochs: EpochNumberSchema.describe('epochs requested (at most this many run)'),
  learningRate: z.number().positive(),
  batchSize: z.int().positive(),
  numWorkers: z.int().nonnegative(),
  model: z.string().min(1).describe('network kind, e.g. cnn'),
  augment: z.boolean().optional().describe('random affine distortions of the training images each epoch (--augment)'),
  selection: z.enum(SELECTIONS).optional().describe('how the best epoch was chosen: f1 (validation macro F1), f1-loss (ties broken by validation loss), loss (validation loss)'),
  calibrate: z.boolean().optional().describe('whether a temperature was fitted on the validation split'),
  temperature: z.number().positive().optional().describe('temperature applied to every exported probability (1: none)'),
})
export type TrainingConfig = z.infer<typeof TrainingConfigSchema>

export const NormalisationSchema = z.object({
  method: z.literal('standardize'),
  mean: z.number(),
  std: z.number().positive(),
  computedOn: z.literal('train').describe('statistics come from the training split only (no leakage)'),
})
export type Normalisation = z.infer<typeof NormalisationSchema>

export const ArtifactFileSchema = z.object({
  name: z.string().min(1),
  bytes: CountSchema,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
})
export type ArtifactFile = z.infer<typeof ArtifactFileSchema>

export const RunMetadataSchema = z
  .object({
    runName: z.string().min(1),
    generatedAt: z.iso.datetime(),
    packageVersion: z.string().min(1),
    backend: z.string().min(1).describe('TensorFlow.js backend the run used'),
    dataset: DatasetDescriptionSchema,
    training: TrainingConfigSchema,
    normalisation: NormalisationSchema,
    artifacts: z.array(ArtifactFileSchema).describe('every other file the run exported (this file excluded)'),
  })
  .meta({title: 'run_metadata.json', description: 'What a run was: data, configuration, normalisation, and the files it exported.'})
export type RunMetadata = z.infer<typeof RunMetadataSchema>

/** Every artifact schema, by name (re-exported by the package). */
export const schemas = {
  metrics: MetricsSchema,
  predictions: PredictionsSchema,
  lossCurves: LossCurvesSchema,
  runMetadata: RunMetadataSchema,
  rocCurves: RocCurvesSchema,
  trainingDynamics: TrainingDynamicsSchema,
  timingStats: TimingStatsSchema,
  reliability: ReliabilitySchema,
} as const
export type ArtifactSchemaName = keyof typeof schemas
