/** Everything a training run exports (SPEC §5), written in one call. */
import {rm} from 'node:fs/promises'
import {join} from 'node:path'

import {z} from 'zod'

import type {AnySplitName} from '../config.js'
import {type ClassificationReport, ClassificationReportSchema} from '../evaluation/schema.js'
import type {RocCurves} from '../evaluation/roc.js'
import {EpochLogSchema} from './epoch-log.js'
import {buildLossCurves, buildMetrics, buildPredictionRows, buildPredictions, buildRocCurves, buildTimingStats, buildTrainingDynamics} from './build.js'
import {GALLERY_SIZE, GallerySampleSchema, galleryFromPixels, plotGallery} from './gallery.js'
import {plotConfusionMatrix, plotRoc, plotTiming, plotTrainingDynamics} from './plots.js'
import {type ReliabilityDocument, ReliabilitySchema, plotReliability} from './reliability.js'
import {
  ARTIFACT_FILES,
  ARTIFACT_SCHEMA_VERSION,
  type ArtifactFile,
  DatasetDescriptionSchema,
  LossCurvesSchema,
  MetricsSchema,
  PredictionSampleSchema,
  PredictionsSchema,
  RocCurvesSchema,
  RunMetadataSchema,
  SplitScoresBySplitSchema,
  TimingStatsSchema,
  TrainingConfigViewSchema,
  TrainingDynamicsSchema,
} from './schemas.js'
import {ensureArtifactDir, serializeJsonArtifact, writeArtifactFile} from './write.js'

export type PendingFile = [name: string, data: string | Uint8Array]

/**
 * Write prepared files into `dir` (created if missing), each atomically, side by side (their syncs overlap). Returns
 * them, and calls `onFile` for each written, in the order given; when one fails, the others are still waited for and
 * reported before its error is thrown.
 */
async function writeAll(dir: string, files: readonly PendingFile[], onFile?: (file: ArtifactFile) => void): Promise<ArtifactFile[]> {
  await ensureArtifactDir(dir)
  const results = await Promise.allSettled(files.map(([name, data]) => writeArtifactFile(dir, name, data)))
  const written: ArtifactFile[] = []
  for (const result of results) {
    if (result.status !== 'fulfilled') continue
    written.push(result.value)
    onFile?.(result.value)
  }

  const failed = results.find((result) => result.status === 'rejected')
  if (failed) throw failed.reason
  return written
}

/** What the trainer knows at the end of a run: the input of `writeRunArtifacts`. */
export const RunDataSchema = z
  .object({
    runName: z.string().min(1),
    packageVersion: z.string().min(1),
    backend: z.string().min(1),
    dataset: DatasetDescriptionSchema,
    /** The run's resolved configuration (config.json). */
    trainingConfig: TrainingConfigViewSchema,
    /** Statistics of the training split; method and split are fixed by design. */
    normalization: z.object({mean: z.number(), std: z.number().positive()}),
    epochs: z.array(EpochLogSchema).min(1),
    bestEpoch: z.int().positive(),
    /** Temperature fitted on the validation split (1: none): a result, kept apart from the configuration. */
    temperature: z.number().positive(),
    /** Scores of the exported (best) model per split. */
    splits: SplitScoresBySplitSchema,
    /** Classification report of the evaluation split. */
    classificationReport: ClassificationReportSchema,
    /** Every evaluation-split prediction; `probabilities` in the order of `dataset.classes`. */
    predictions: z.array(PredictionSampleSchema).min(1),
    /** Up to 25 evaluation images with their labels (see `selectGallerySamples`). */
    gallery: z.array(GallerySampleSchema).min(1).max(GALLERY_SIZE),
  })
  .refine((run) => run.bestEpoch <= run.epochs.length, {message: 'bestEpoch must be one of the epochs run', path: ['bestEpoch']})
export type RunData = z.infer<typeof RunDataSchema>

export interface RunArtifactOptions {
  /** ROC curves of the evaluation split: writes roc_curves.json and .png. */
  roc?: RocCurves
  /** Write training_dynamics.json and .png (learning rate and losses per epoch). */
  lrTrace?: boolean
  /** Write timing_stats.json and .png (per-epoch durations). */
  timing?: boolean
  /** Confidence against accuracy before and after temperature scaling: writes reliability.json and .png. */
  reliability?: ReliabilityDocument
  /** Time stamp of run_metadata.json; now by default. */
  generatedAt?: Date
  /** Called once per file written, e.g. to log progress on stderr. */
  onFile?: (file: ArtifactFile) => void
  /** Files of the run written before its artifacts (config.json), listed in run_metadata.json too. */
  extraFiles?: ArtifactFile[]
  /** The plots, already started with `renderRunPlots` (same data, same options); rendered here otherwise. */
  plots?: Promise<PendingFile[]>
}

/** What a run's plots are drawn from: the evaluation split and the epochs, known before the other splits are scored. */
export type RunPlotData = Pick<RunData, 'classificationReport' | 'gallery' | 'epochs'> & {imagesPerEpoch: number}

/**
 * Render every plot of a run (on the plot thread when it runs), all requested
 * at once, in the order run_metadata.json lists them.
 */
export async function renderRunPlots(
  run: RunPlotData,
  options: Pick<RunArtifactOptions, 'roc' | 'lrTrace' | 'timing' | 'reliability'> & {
    /** The confusion matrix of `run.classificationReport`, when it was requested already. */
    confusionMatrix?: Promise<Buffer>
  } = {},
): Promise<PendingFile[]> {
  const plots: Array<[string, Promise<Buffer>]> = [
    [ARTIFACT_FILES.confusionMatrix, options.confusionMatrix ?? plotConfusionMatrix(run.classificationReport)],
    [ARTIFACT_FILES.gallery, plotGallery(run.gallery)],
  ]
  if (options.roc) plots.push([ARTIFACT_FILES.rocPlot, plotRoc(options.roc)])
  if (options.lrTrace) plots.push([ARTIFACT_FILES.trainingDynamicsPlot, plotTrainingDynamics(run.epochs)])
  if (options.timing) plots.push([ARTIFACT_FILES.timingPlot, plotTiming(run.epochs, run.imagesPerEpoch)])
  if (options.reliability) plots.push([ARTIFACT_FILES.reliabilityPlot, plotReliability(options.reliability)])
  // Every request is out before the first is awaited; a failure is reported once all have settled.
  const settled = await Promise.allSettled(plots.map(([, png]) => png))
  const failed = settled.find((result) => result.status === 'rejected')
  if (failed) throw failed.reason
  return plots.map(([name], i) => [name, (settled[i] as PromiseFulfilledResult<Buffer>).value])
}

/** The key of a file in run_metadata.json's `artifacts`: its ARTIFACT_FILES name in snake_case (`roc_plot` → roc_curves.png), else its stem. */
function artifactName(file: string): string {
  const known = Object.entries(ARTIFACT_FILES).find(([, name]) => name === file)?.[0]
  return known ? known.replaceAll(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : file.slice(0, file.lastIndexOf('.'))
}

/**
 * Write every artifact of a run into `dir` and, last, run_metadata.json listing
 * them (name, bytes, sha256). All documents are validated and all plots
 * rendered before the first file is written, so invalid data leaves `dir`
 * untouched; each file is written atomically. Returns every file written,
 * run_metadata.json last.
 */
export async function writeRunArtifacts(dir: string, runData: RunData, options: RunArtifactOptions = {}): Promise<ArtifactFile[]> {
  const parsed = RunDataSchema.safeParse(runData)
  if (!parsed.success) throw new Error(`run data is invalid:\n${z.prettifyError(parsed.error)}`)
  const run = parsed.data

  // metrics.json marks a run as finished (the dashboard, --resume): it is written after every other file, run_metadata.json last.
  const metrics = serializeJsonArtifact(ARTIFACT_FILES.metrics, MetricsSchema, buildMetrics(run))
  const files: PendingFile[] = [
    [ARTIFACT_FILES.predictions, serializeJsonArtifact(ARTIFACT_FILES.predictions, PredictionsSchema, buildPredictions(run.predictions, run.dataset.classes))],
    [ARTIFACT_FILES.lossCurves, serializeJsonArtifact(ARTIFACT_FILES.lossCurves, LossCurvesSchema, buildLossCurves(run.epochs))],
  ]
  if (options.roc) files.push([ARTIFACT_FILES.rocCurves, serializeJsonArtifact(ARTIFACT_FILES.rocCurves, RocCurvesSchema, buildRocCurves(options.roc))])
  if (options.lrTrace) {
    files.push([
      ARTIFACT_FILES.trainingDynamics,
      serializeJsonArtifact(ARTIFACT_FILES.trainingDynamics, TrainingDynamicsSchema, buildTrainingDynamics(run.epochs)),
    ])
  }

  if (options.reliability) files.push([ARTIFACT_FILES.reliability, serializeJsonArtifact(ARTIFACT_FILES.reliability, ReliabilitySchema, options.reliability)])
  const imagesPerEpoch = run.dataset.splits.train.size
  if (options.timing) {
    files.push([ARTIFACT_FILES.timingStats, serializeJsonArtifact(ARTIFACT_FILES.timingStats, TimingStatsSchema, buildTimingStats(run.epochs, imagesPerEpoch))])
  }

  files.push(...(await (options.plots ?? renderRunPlots({...run, imagesPerEpoch}, options))))

  const metadataOf = (artifacts: ArtifactFile[]): string =>
    serializeJsonArtifact(ARTIFACT_FILES.runMetadata, RunMetadataSchema, {
      schema_version: ARTIFACT_SCHEMA_VERSION,
      run_name: run.runName,
      generated_at: (options.generatedAt ?? new Date()).toISOString(),
      package_version: run.packageVersion,
      backend: run.backend,
      dataset: run.dataset,
      training_config: run.trainingConfig,
      results: {best_epoch: run.bestEpoch, temperature: run.temperature},
      feature_normalization: {method: 'standardize', stats_source: 'train', mean: run.normalization.mean, std: run.normalization.std},
      artifacts: Object.fromEntries([...(options.extraFiles ?? []), ...artifacts].map((file) => [artifactName(file.name), file.name])),
      files: [...(options.extraFiles ?? []), ...artifacts],
    })
  // Checked before the first write too, so a bad value cannot leave a run without its metadata.
  metadataOf([])

  const written: ArtifactFile[] = []
  try {
    // Collected as they land, so a failure part-way knows what to take back.
    const landed = (file: ArtifactFile) => {
      written.push(file)
      options.onFile?.(file)
    }
    await writeAll(dir, files, landed)
    // Then metrics.json, once every other file is in place.
    await writeAll(dir, [[ARTIFACT_FILES.metrics, metrics]], landed)
    const metadataFile = await writeArtifactFile(dir, ARTIFACT_FILES.runMetadata, metadataOf(written))
    options.onFile?.(metadataFile)
    return [...written, metadataFile]
  } catch (error) {
    // A run whose artifacts could not all be written (a full disk) keeps none of them: its folder is that of a run that did not finish.
    await Promise.all(written.map((file) => rm(join(dir, file.name), {force: true}).catch(() => {})))
    throw error
  }
}

/** What `evaluate` has after one pass over a split (shapes of src/evaluation/evaluate.ts). */
export interface EvaluationArtifactInput {
  data: {
    /** The MNIST images file the split indexes: 784 bytes per image. */
    source: {pixels: Uint8Array}
    split: {indices: readonly number[]; labels: readonly number[]}
  }
  evaluation: {
    split: AnySplitName
    report: ClassificationReport
    /** Probabilities [N × K] in the order of `report.labels`, the model's classes. */
    probs: ArrayLike<number>
  }
}

/** `predictions.json` for the evaluation split; `predictions_test.json` (and so on) for another split, so a run's own files stay intact. */
export function evaluationFileName(name: string, split: AnySplitName): string {
  if (split === 'eval') return name
  const dot = name.lastIndexOf('.')
  return `${name.slice(0, dot)}_${split}${name.slice(dot)}`
}

/**
 * The artifacts of evaluating one split: predictions.json, confusion_matrix.png,
 * gallery.png, and roc_curves.json/.png when `options.roc` is given (file names
 * suffixed by the split unless it is `eval`, see `evaluationFileName`). Validated
 * and rendered before the first write. Returns the files written.
 */
export async function writeEvaluationArtifacts(
  dir: string,
  input: EvaluationArtifactInput,
  options: Pick<RunArtifactOptions, 'roc' | 'onFile'> = {},
): Promise<ArtifactFile[]> {
  const {split, report} = input.evaluation
  const rows = buildPredictionRows(input.data.split.indices, input.data.split.labels, input.evaluation.probs, report.labels)
  const name = (file: string) => evaluationFileName(file, split)
  const files: PendingFile[] = [
    [
      name(ARTIFACT_FILES.predictions),
      serializeJsonArtifact(name(ARTIFACT_FILES.predictions), PredictionsSchema, buildPredictions(rows, report.labels, split)),
    ],
  ]
  if (options.roc)
    files.push([name(ARTIFACT_FILES.rocCurves), serializeJsonArtifact(name(ARTIFACT_FILES.rocCurves), RocCurvesSchema, buildRocCurves(options.roc))])
  files.push(
    [name(ARTIFACT_FILES.confusionMatrix), await plotConfusionMatrix(report, `Confusion matrix (${split} split)`)],
    [
      name(ARTIFACT_FILES.gallery),
      await plotGallery(galleryFromPixels(rows, input.data.source.pixels), `${split} images (green frame: right, red frame: wrong)`),
    ],
  )
  if (options.roc) files.push([name(ARTIFACT_FILES.rocPlot), await plotRoc(options.roc, `ROC curves, one-vs-rest (${split} split)`)])
  return writeAll(dir, files, options.onFile)
}
