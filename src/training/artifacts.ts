import {MNIST_FILES} from '../config.js'
import type {SplitName} from '../data/split.js'
import {describeSplits} from '../data/dataset.js'
import {type PendingFile, renderRunPlots, writeRunArtifacts} from '../artifacts/run.js'
import {plotConfusionMatrix} from '../artifacts/plots.js'
import {buildPredictionRows, datasetSummary} from '../artifacts/build.js'
import type {ArtifactFile, PredictionSample} from '../artifacts/schemas.js'
import {type GallerySample, galleryFromPixels} from '../artifacts/gallery.js'
import {type ReliabilityDocument, buildReliability} from '../artifacts/reliability.js'
import {classificationReport} from '../evaluation/metrics.js'
import {probabilityRows} from '../model/probabilities.js'
import {type RocCurves, rocCurves} from '../evaluation/roc.js'
import type {ClassificationReport} from '../evaluation/schema.js'
import {packageVersion} from '../version.js'
import type {SplitOutputs} from './module.js'
import {trainingConfigView} from './config.js'
import type {PreparedData, SplitMetrics, TrainRun} from './data.js'
import type {EpochLog} from '../artifacts/epoch-log.js'

export interface TrainingArtifactInput {
  run: TrainRun
  data: PreparedData
  history: EpochLog[]
  bestEpoch: number
  backend: string
  metrics: Record<SplitName, SplitMetrics>
  /** The evaluation split's outputs with calibrated probabilities, and its plots (`startTrainingPlots`). */
  evalSplit: EvalSplitArtifacts
  /** Temperature applied to the probabilities (1: none). */
  temperature: number
  /** Files the run wrote before its artifacts (config.json), to list in run_metadata.json. */
  extraFiles?: ArtifactFile[]
}

/** What the evaluation split's artifacts are made of, and its plots, already rendering. */
export interface EvalSplitArtifacts {
  rows: PredictionSample[]
  report: ClassificationReport
  gallery: GallerySample[]
  roc?: RocCurves
  reliability: ReliabilityDocument
  plots: Promise<PendingFile[]>
}

function evalSplitSize(data: PreparedData, name: SplitName): number {
  return data.dataset.splits[name].indices.length
}

/** The evaluation split's classification report, and its confusion matrix already rendering. */
export interface EvalConfusion {
  report: ClassificationReport
  png: Promise<Buffer>
}

/**
 * The evaluation split's report and confusion matrix, from its predictions
 * alone: a temperature changes no prediction, so the plot thread draws it
 * while the validation split is scored and the fit end runs.
 */
export function startConfusionMatrix(data: PreparedData, evalOutputs: Pick<SplitOutputs, 'predicted'>): EvalConfusion {
  const evalSplit = data.dataset.splits.eval
  const {classes} = data.dataset
  const report = classificationReport(
    evalSplit.labels,
    Array.from(evalOutputs.predicted, (c) => classes[c]),
    classes,
  )
  const png = plotConfusionMatrix(report)
  // A run that fails before it writes its artifacts reports that failure, not this one's.
  png.catch(() => {})
  return {report, png}
}

/**
 * Start the run's other plots from the evaluation split's outputs
 * (probabilities calibrated by `temperature`; `uncalibratedProbs` without it)
 * and the epochs: they render on the plot thread while the other splits are still scored.
 */
export function startTrainingPlots(
  input: Pick<TrainingArtifactInput, 'run' | 'data' | 'history' | 'temperature'>,
  evalOutputs: SplitOutputs,
  uncalibratedProbs: Float32Array,
  confusion: EvalConfusion,
): EvalSplitArtifacts {
  const {data, temperature} = input
  const {config} = input.run
  const evalSplit = data.dataset.splits.eval
  const {classes} = data.dataset
  const rows = buildPredictionRows(evalSplit.indices, evalSplit.labels, evalOutputs.probs, classes)
  const {report} = confusion
  const gallery = galleryFromPixels(rows, data.dataset.source.pixels)
  const roc = config.roc_per_class ? rocCurves(evalSplit.labels, probabilityRows(evalOutputs.probs, classes.length), classes) : undefined
  const reliability = buildReliability('eval', data.tensors.eval.y, uncalibratedProbs, evalOutputs.probs, temperature)
  const plots = renderRunPlots(
    {classificationReport: report, gallery, epochs: input.history, imagesPerEpoch: evalSplitSize(data, 'train')},
    {roc, lrTrace: config.learning_rate_trace, timing: config.timing_stats, reliability, confusionMatrix: confusion.png},
  )
  // A run that fails before it writes its artifacts reports that failure, not this one's.
  plots.catch(() => {})
  return {rows, report, gallery, roc, reliability, plots}
}

/** Write the run's artifacts (SPEC §5) from what training computed; returns the file names. */
export async function writeTrainingArtifacts(input: TrainingArtifactInput): Promise<string[]> {
  const {data, evalSplit} = input
  const {config} = input.run
  const {classes, classCounts} = data.dataset
  const files = await writeRunArtifacts(
    input.run.outputDir,
    {
      runName: config.run_name,
      packageVersion: packageVersion(),
      backend: input.backend,
      dataset: {
        ...datasetSummary({train: evalSplitSize(data, 'train'), val: evalSplitSize(data, 'val'), eval: evalSplitSize(data, 'eval')}, classes),
        source: `MNIST training set (${MNIST_FILES.trainImages.name}) in ${input.run.dataDir}`,
        classes: [...classes],
        class_counts: Object.fromEntries(classes.map((c) => [String(c), classCounts[c]])),
        splits: Object.fromEntries(
          Object.entries(describeSplits(data.dataset)).map(([name, split]) => [
            name,
            {size: split.size, per_class: split.per_class, fingerprint: split.fingerprint},
          ]),
        ) as Record<SplitName, {size: number; per_class: Record<string, number>; fingerprint: string}>,
      },
      trainingConfig: trainingConfigView(config),
      temperature: input.temperature,
      normalization: {mean: data.normalization.mean, std: data.normalization.std},
      epochs: input.history,
      bestEpoch: input.bestEpoch,
      splits: input.metrics,
      classificationReport: evalSplit.report,
      predictions: evalSplit.rows,
      gallery: evalSplit.gallery,
    },
    {
      roc: evalSplit.roc,
      lrTrace: config.learning_rate_trace,
      timing: config.timing_stats,
      extraFiles: input.extraFiles,
      reliability: evalSplit.reliability,
      plots: evalSplit.plots,
    },
  )
  return files.map((f) => f.name)
}
