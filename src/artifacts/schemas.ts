/**
 * Shapes of the run artifacts (SPEC §5). Every JSON file a run writes is
 * checked against its schema here before it reaches the disk, and
 * `scripts/emit-json-schemas.ts` publishes the same schemas as JSON Schema
 * under schema/ (`npm run schemas`), so dashboards and scripts can rely on them.
 *
 * The shapes are those of the original demo's documents (columnar
 * loss_curves.json, predictions with `true_label`/`probabilities`, top-level
 * accuracies in metrics.json, run_metadata.json's `dataset`/`training_config`/
 * `feature_normalization`/`artifacts`), with more fields beside them. Keys are
 * snake_case in every file, and every file carries `schema_version`.
 */
import {z} from 'zod'

import {ALL_SPLIT_NAMES, DIGITS, IMAGE_SIZE, PIXELS, SELECTIONS} from '../config.js'
import {MIN_CLASSES, isClassList} from '../data/classes.js'
import {ECE_BINS} from '../evaluation/calibration.js'
import {METRICS, METRIC_LIST, type MetricInfo, type MetricKey, type MetricName, metricShape, metricValueSchema} from './epoch-log.js'

/** A digit label; which digits a run knows is its `classes`. */
const LabelSchema = z.int().min(0).max(9)
/** The digits a model knows, ascending: the order of every probability vector. */
const ClassesSchema = z
  .array(LabelSchema)
  .min(MIN_CLASSES)
  .max(DIGITS.length)
  .refine(isClassList, {message: 'classes must be distinct digits in ascending order'})
const NumClassesSchema = z.int().min(MIN_CLASSES).max(DIGITS.length)
const CountSchema = z.int().nonnegative()
const ProbabilitySchema = z.number().min(0).max(1)
const EpochNumberSchema = z.int().positive()

/** Version of every artifact's shape, raised when a shape changes (a reader of the old shape is then a migration). */
export const ARTIFACT_SCHEMA_VERSION = 1
const SchemaVersionSchema = z.literal(ARTIFACT_SCHEMA_VERSION).describe("version of this file's shape")

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

export const SplitScoresSchema = z
  .object({
    samples: CountSchema,
    loss: z.number().nonnegative().describe('mean class-weighted cross-entropy'),
    accuracy: ProbabilitySchema,
    balanced_accuracy: ProbabilitySchema.describe('mean per-class recall: every class counts the same'),
    f1_macro: ProbabilitySchema,
  })
  .meta({description: 'Scores of the exported model on one split.'})
export type SplitScores = z.infer<typeof SplitScoresSchema>

export const SplitScoresBySplitSchema = z.object({
  train: SplitScoresSchema,
  val: SplitScoresSchema,
  eval: SplitScoresSchema,
})
export type SplitScoresBySplit = z.infer<typeof SplitScoresBySplitSchema>

const ClassScoresFileSchema = z.object({precision: z.number(), recall: z.number(), f1: z.number(), support: CountSchema})

/** scikit-learn's classification report, as written in metrics.json. */
export const ClassificationReportFileSchema = z.object({
  labels: z.array(z.int()),
  per_class: z.record(z.string(), ClassScoresFileSchema),
  accuracy: ProbabilitySchema,
  balanced_accuracy: ProbabilitySchema.describe('mean of per-class recall (balanced accuracy)'),
  macro_avg: ClassScoresFileSchema,
  weighted_avg: ClassScoresFileSchema,
  confusion_matrix: z.array(z.array(CountSchema)).describe('confusion_matrix[i][j]: samples of true labels[i] predicted as labels[j]'),
  total: CountSchema,
})
export type ClassificationReportFile = z.infer<typeof ClassificationReportFileSchema>

export const MetricsSchema = z
  .object({
    schema_version: SchemaVersionSchema,
    train_accuracy: ProbabilitySchema.describe('plain accuracy (share of images classified right), not balanced'),
    val_accuracy: ProbabilitySchema.describe("plain accuracy, not balanced (each split's balanced accuracy is its balanced_accuracy)"),
    test_accuracy: ProbabilitySchema.describe('plain accuracy on the held-out evaluation split (splits.eval; the original calls it test)'),
    train_loss: z.number().nonnegative(),
    val_loss: z.number().nonnegative(),
    test_loss: z.number().nonnegative().describe('loss on the held-out evaluation split (splits.eval)'),
    num_epochs: EpochNumberSchema.describe('number of epochs run (early stopping may end a run before the requested count)'),
    best_epoch: EpochNumberSchema.describe('epoch of the best validation macro-F1, whose weights are exported'),
    classes: ClassesSchema,
    splits: SplitScoresBySplitSchema,
    classification_report: ClassificationReportFileSchema.describe('report of the evaluation split'),
  })
  .refine((m) => m.best_epoch <= m.num_epochs, {message: 'best_epoch must not exceed num_epochs', path: ['best_epoch']})
  .meta({title: 'metrics.json', description: 'Final scores of a training run per split, with the classification report of the evaluation split.'})
export type Metrics = z.infer<typeof MetricsSchema>

// ------------------------------------------------------------ predictions.json

export const PredictionSampleSchema = z
  .object({
    index: CountSchema.describe('position of the sample in its split'),
    dataset_index: CountSchema.describe('index of the image in the MNIST file named by dataset_file'),
    true_label: LabelSchema,
    predicted_label: LabelSchema,
    probabilities: z.array(ProbabilitySchema).min(MIN_CLASSES).describe('class probabilities in the order of `classes`'),
  })
  .refine((p) => Math.abs(p.probabilities.reduce((sum, x) => sum + x, 0) - 1) <= PROBABILITY_SUM_TOLERANCE, {
    message: 'probabilities must sum to 1 (softmax outputs, not logits)',
    path: ['probabilities'],
  })
export type PredictionSample = z.infer<typeof PredictionSampleSchema>

export const PredictionsSchema = z
  .object({
    schema_version: SchemaVersionSchema,
    dataset: z.string().min(1).describe('the data set the split comes from'),
    split: z.enum(ALL_SPLIT_NAMES),
    num_classes: NumClassesSchema,
    classes: ClassesSchema.describe('labels in the order of every probabilities vector'),
    dataset_file: z.string().min(1).describe('the MNIST images file that dataset_index points into'),
    samples: z.array(PredictionSampleSchema),
  })
  .refine((p) => p.classes.length === p.num_classes, {message: 'num_classes must be the number of classes', path: ['num_classes']})
  .refine(
    (p) => p.samples.every((s) => s.probabilities.length === p.num_classes && p.classes.includes(s.true_label) && p.classes.includes(s.predicted_label)),
    {
      message: 'every sample needs one probability per class, and labels among the classes',
      path: ['samples'],
    },
  )
  .meta({title: 'predictions.json', description: 'Per-sample predictions of the exported model on one split (the evaluation split for a training run).'})
export type Predictions = z.infer<typeof PredictionsSchema>

// ------------------------------------------------------------ loss_curves.json

/** The metrics with a list in loss_curves.json, and the original demo's names for them. */
type CurveMetric = {[K in MetricKey]: (typeof METRICS)[K] extends {curve: object} ? (typeof METRICS)[K]['name'] : never}[MetricKey]
type CurveAlias = {[K in MetricKey]: (typeof METRICS)[K] extends {curve: {alias: infer A extends string}} ? A : never}[MetricKey]

/** loss_curves.json's lists after `epochs`, in order: each key, the metric it lists and what its schema says of it. */
export const CURVE_LISTS: ReadonlyArray<{key: CurveMetric | CurveAlias; metric: MetricName; note?: string}> = METRIC_LIST.flatMap((metric: MetricInfo) => {
  if (!metric.curve) return []
  const name = metric.name as CurveMetric
  const own = {key: name, metric: name, note: metric.curve.note}
  return metric.curve.alias ? [{key: metric.curve.alias as CurveAlias, metric: name, note: `the original's name for ${name}`}, own] : [own]
})

const metricByName = (name: MetricName): MetricInfo => METRIC_LIST.find((metric) => metric.name === name) as MetricInfo

function curveList(list: (typeof CURVE_LISTS)[number]): z.ZodArray<z.ZodNumber> {
  const values = z.array(metricValueSchema(metricByName(list.metric)))
  return list.note ? values.describe(list.note) : values
}

export const LossCurvesSchema = z
  .object({
    schema_version: SchemaVersionSchema,
    epochs: z.array(EpochNumberSchema).min(1).describe('epoch numbers; every other list has one value per epoch'),
    ...(Object.fromEntries(CURVE_LISTS.map((list) => [list.key, curveList(list)])) as Record<CurveMetric | CurveAlias, z.ZodArray<z.ZodNumber>>),
  })
  .refine((c) => CURVE_LISTS.every(({key}) => c[key].length === c.epochs.length), {
    message: 'every list must have one value per epoch',
  })
  .meta({title: 'loss_curves.json', description: 'Training and validation loss, accuracy and macro-F1 per epoch, one list per series.'})
export type LossCurves = z.infer<typeof LossCurvesSchema>

// ------------------------------------------------------------- roc_curves.json

export const RocCurveSchema = z
  .object({
    label: LabelSchema.describe("the positive class (one of the model's classes); all others are negative (one-vs-rest)"),
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
    schema_version: SchemaVersionSchema,
    per_class: z.array(RocCurveSchema).min(1),
    macro_auc: ProbabilitySchema.nullable().describe('mean AUC over the classes whose AUC is defined; null if none is'),
  })
  .meta({title: 'roc_curves.json', description: 'One-vs-rest ROC curve and AUC per class on the evaluation split.'})
export type RocCurvesFile = z.infer<typeof RocCurvesSchema>

// ------------------------------------------------------ training_dynamics.json

/** What training_dynamics.json lists per epoch beside its number. */
export const DYNAMICS_METRICS = [METRICS.learningRate, METRICS.trainLoss, METRICS.valLoss] as const

export const TrainingDynamicsSchema = z
  .object({
    schema_version: SchemaVersionSchema,
    epochs: z
      .array(
        z.object({
          epoch: EpochNumberSchema,
          ...metricShape(DYNAMICS_METRICS, metricValueSchema),
        }),
      )
      .min(1),
    learning_rate_changes: z
      .array(z.object({epoch: EpochNumberSchema, from: z.number().positive(), to: z.number().positive()}))
      .describe('epochs whose learning rate differs from the previous epoch (reduce-on-plateau steps, or a new rate given on --resume)'),
  })
  .meta({title: 'training_dynamics.json', description: 'Learning-rate schedule and losses per epoch.'})
export type TrainingDynamics = z.infer<typeof TrainingDynamicsSchema>

// ----------------------------------------------------------- timing_stats.json

const ImagesPerSecondSchema = z.number().nonnegative().nullable().describe('null when the duration is too short to measure')

export const TimingStatsSchema = z
  .object({
    schema_version: SchemaVersionSchema,
    epochs: z.array(z.object({epoch: EpochNumberSchema, seconds: z.number().nonnegative(), images_per_second: ImagesPerSecondSchema})).min(1),
    summary: z.object({
      epochs: EpochNumberSchema,
      images_per_epoch: CountSchema.describe('training images seen per epoch'),
      total_seconds: z.number().nonnegative(),
      mean_seconds: z.number().nonnegative(),
      median_seconds: z.number().nonnegative(),
      min_seconds: z.number().nonnegative(),
      max_seconds: z.number().nonnegative(),
      images_per_second: ImagesPerSecondSchema.describe('training images over total epoch wall time (validation included)'),
    }),
  })
  .meta({title: 'timing_stats.json', description: 'Wall-clock duration of every epoch, and a summary.'})
export type TimingStats = z.infer<typeof TimingStatsSchema>

// ------------------------------------------------------------ reliability.json

export const ReliabilityBinSchema = z.object({
  lower: ProbabilitySchema,
  upper: ProbabilitySchema,
  count: z.int().nonnegative(),
  accuracy: ProbabilitySchema.nullable().describe("share right among the bin's predictions; null for an empty bin"),
  confidence: ProbabilitySchema.nullable().describe('mean top probability in the bin; null for an empty bin'),
})

const CurveSchema = z.object({
  ece: ProbabilitySchema.describe('expected calibration error: Σ |B|/n · |accuracy(B) − confidence(B)|'),
  bins: z.array(ReliabilityBinSchema).length(ECE_BINS),
})

export const ReliabilitySchema = z
  .object({
    schema_version: SchemaVersionSchema,
    split: z.enum(ALL_SPLIT_NAMES),
    samples: z.int().nonnegative(),
    temperature: z.number().positive().describe('logits are divided by this before the softmax (1: no scaling); fitted on the validation split'),
    before: CurveSchema.describe("the network's own probabilities"),
    after: CurveSchema.describe('probabilities after temperature scaling'),
  })
  .meta({
    title: 'reliability.json',
    description: `Confidence against accuracy in ${ECE_BINS} equal-width bins, before and after temperature scaling (Guo et al. 2017).`,
  })
export type ReliabilityDocument = z.infer<typeof ReliabilitySchema>

// ----------------------------------------------------------- run_metadata.json

export const SplitDescriptionSchema = z
  .object({
    size: CountSchema,
    per_class: z.record(z.string(), CountSchema).describe('images per class label'),
    fingerprint: z.string().min(1).describe('hash of the chosen indices, labels and pixels'),
  })
  .refine((s) => Object.values(s.per_class).reduce((sum, n) => sum + n, 0) === s.size, {
    message: 'per_class counts must add up to size',
    path: ['per_class'],
  })
export type SplitDescription = z.infer<typeof SplitDescriptionSchema>

export const DatasetDescriptionSchema = z.object({
  name: z.string().min(1).describe('the data set: mnist_ and the digits of the classes (mnist_37 for 3 and 7), or mnist for all ten'),
  num_classes: NumClassesSchema,
  num_features: z.literal(PIXELS).describe('pixels per image'),
  image_shape: z.tuple([z.literal(IMAGE_SIZE), z.literal(IMAGE_SIZE)]),
  train_size: CountSchema,
  val_size: CountSchema,
  test_size: CountSchema.describe('size of the held-out evaluation split (splits.eval; the original calls it test)'),
  source: z.string().min(1).describe('where the images come from, e.g. the MNIST training files'),
  classes: ClassesSchema,
  class_counts: z.record(z.string(), CountSchema).describe('images per class in the curated subset'),
  splits: z.object({
    train: SplitDescriptionSchema,
    val: SplitDescriptionSchema,
    eval: SplitDescriptionSchema,
    test: SplitDescriptionSchema.optional(),
  }),
})
export type DatasetDescription = z.infer<typeof DatasetDescriptionSchema>

/** The run's resolved training configuration (its config.json, src/training/config.ts); these four keys at least. */
export const TrainingConfigViewSchema = z.looseObject({
  epochs: EpochNumberSchema.describe('epochs requested (at most this many run)'),
  batch_size: z.int().positive(),
  learning_rate: z.number().positive(),
  seed: z.int(),
  augment: z.boolean().optional().describe('random affine distortions of the training images each epoch (--augment)'),
  selection: z
    .enum(SELECTIONS)
    .optional()
    .describe('how the best epoch was chosen: f1 (validation macro F1), f1-loss (ties broken by validation loss), loss (validation loss)'),
  calibrate: z.boolean().optional().describe('whether a temperature was fitted on the validation split'),
  ema_decay: z.number().min(0).lt(1).optional().describe('decay of the moving average of the weights that was validated and kept (--ema-decay; 0: none)'),
})

/** What a run found, as opposed to what it was asked (`training_config`). */
export const RunResultsSchema = z.object({
  best_epoch: z.int().positive().describe('the epoch whose weights were exported (best.ckpt)'),
  temperature: z.number().positive().describe('temperature fitted on the validation split and applied to every exported probability (1: none)'),
})

export const FeatureNormalizationSchema = z.object({
  method: z.literal('standardize'),
  stats_source: z.literal('train').describe('statistics come from the training split only (no leakage)'),
  mean: z.number(),
  std: z.number().positive(),
})
export type FeatureNormalization = z.infer<typeof FeatureNormalizationSchema>

export const ArtifactFileSchema = z.object({
  name: z.string().min(1),
  bytes: CountSchema,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
})
export type ArtifactFile = z.infer<typeof ArtifactFileSchema>

export const RunMetadataSchema = z
  .object({
    schema_version: SchemaVersionSchema,
    run_name: z.string().min(1),
    generated_at: z.iso.datetime(),
    package_version: z.string().min(1),
    backend: z.string().min(1).describe('TensorFlow.js backend the run used'),
    dataset: DatasetDescriptionSchema,
    training_config: TrainingConfigViewSchema,
    results: RunResultsSchema.describe('what the run found'),
    feature_normalization: FeatureNormalizationSchema,
    artifacts: z.record(z.string(), z.string()).describe('every other file the run exported: artifact name → file name'),
    files: z.array(ArtifactFileSchema).describe('the same files with their size and SHA-256'),
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
