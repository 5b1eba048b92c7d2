import {MNIST_FILES} from '../config.js'
import type {SplitName} from '../data/split.js'
import {describeSplits} from '../data/dataset.js'
import {writeRunArtifacts} from '../artifacts/run.js'
import {buildPredictionRows, datasetSummary} from '../artifacts/build.js'
import type {ArtifactFile} from '../artifacts/schemas.js'
import {galleryFromPixels} from '../artifacts/gallery.js'
import {buildReliability} from '../artifacts/reliability.js'
import {classificationReport} from '../evaluation/metrics.js'
import {probabilityRows} from '../model/probabilities.js'
import {rocCurves} from '../evaluation/roc.js'
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
  predictions: Record<SplitName, SplitOutputs>
  /** Temperature applied to `predictions` (1: none), and the evaluation split's probabilities without it. */
  calibration: {temperature: number; uncalibratedEvalProbs: Float32Array}
  /** Files the run wrote before its artifacts (config.json), to list in run_metadata.json. */
  extraFiles?: ArtifactFile[]
}

function evalSplitSize(data: PreparedData, name: SplitName): number {
  return data.dataset.splits[name].indices.length
}

/** Write the run's artifacts (SPEC §5) from what training computed; returns the file names. */
export async function writeTrainingArtifacts(input: TrainingArtifactInput): Promise<string[]> {
  const {data, predictions} = input
  const {config} = input.run
  const evalSplit = data.dataset.splits.eval
  const {classes, classCounts} = data.dataset
  const evalPredicted = Array.from(predictions.eval.predicted, (c) => classes[c])
  const rows = buildPredictionRows(evalSplit.indices, evalSplit.labels, predictions.eval.probs, classes)
  const roc = config.roc_per_class ? rocCurves(evalSplit.labels, probabilityRows(predictions.eval.probs, classes.length), classes) : undefined
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
      temperature: input.calibration.temperature,
      normalization: {mean: data.normalization.mean, std: data.normalization.std},
      epochs: input.history,
      bestEpoch: input.bestEpoch,
      splits: input.metrics,
      classificationReport: classificationReport(evalSplit.labels, evalPredicted, classes),
      predictions: rows,
      gallery: galleryFromPixels(rows, data.dataset.source.pixels),
    },
    {
      roc,
      lrTrace: config.learning_rate_trace,
      timing: config.timing_stats,
      extraFiles: input.extraFiles,
      reliability: buildReliability(
        'eval',
        data.tensors.eval.y,
        input.calibration.uncalibratedEvalProbs,
        predictions.eval.probs,
        input.calibration.temperature,
      ),
    },
  )
  return files.map((f) => f.name)
}
