import {CLASSES, MNIST_FILES} from '../config.js'
import {type SplitName, SPLIT_NAMES} from '../data/split.js'
import {describeSplits} from '../data/dataset.js'
import {writeRunArtifacts} from '../artifacts/run.js'
import {buildPredictionRows} from '../artifacts/build.js'
import {galleryFromPixels} from '../artifacts/gallery.js'
import {buildReliability} from '../artifacts/reliability.js'
import {classificationReport} from '../evaluation/metrics.js'
import {probabilityRows} from '../evaluation/probabilities.js'
import {rocCurves} from '../evaluation/roc.js'
import {packageVersion} from '../version.js'
import type {Predictions} from './module.js'
import type {PreparedData, SplitMetrics, TrainRun} from './run.js'
import type {EpochLog} from './schema.js'

export interface TrainingArtifactInput {
  run: TrainRun
  data: PreparedData
  history: EpochLog[]
  bestEpoch: number
  backend: string
  metrics: Record<SplitName, SplitMetrics>
  predictions: Record<SplitName, Predictions>
  /** Temperature applied to `predictions` (1: none), and the evaluation split's probabilities without it. */
  calibration: {temperature: number; uncalibratedEvalProbs: Float32Array}
}

/** Write the run's artifacts (SPEC §5) from what training computed; returns the file names. */
export async function writeTrainingArtifacts(input: TrainingArtifactInput): Promise<string[]> {
  const {data, predictions} = input
  const {config} = input.run
  const evalSplit = data.dataset.splits.eval
  const evalPredicted = Array.from(predictions.eval.predicted, (c) => CLASSES[c])
  const rows = buildPredictionRows(evalSplit.indices, evalSplit.labels, predictions.eval.probs)
  const roc = config.roc_per_class ? rocCurves(evalSplit.labels, probabilityRows(predictions.eval.probs)) : undefined
  const files = await writeRunArtifacts(
    input.run.outputDir,
    {
      runName: config.run_name,
      packageVersion: packageVersion(),
      backend: input.backend,
      dataset: {
        source: `MNIST training set (${MNIST_FILES.trainImages.name}) in ${input.run.dataDir}`,
        classes: [...CLASSES],
        classCounts: Object.fromEntries(CLASSES.map((c) => [String(c), config.class_counts[c]])),
        splits: describeSplits(data.dataset),
      },
      training: {
        seed: config.seed,
        evalRatio: config.eval_ratio,
        valRatio: config.val_ratio,
        epochs: config.epochs,
        learningRate: config.learning_rate,
        batchSize: config.batch_size,
        numWorkers: config.num_workers,
        model: config.model,
        augment: config.augment,
        selection: config.selection,
        calibrate: config.calibrate,
        temperature: input.calibration.temperature,
      },
      normalisation: {mean: data.normalization.mean, std: data.normalization.std},
      epochs: input.history,
      bestEpoch: input.bestEpoch,
      splits: Object.fromEntries(
        SPLIT_NAMES.map((name) => {
          const m = input.metrics[name]
          return [name, {samples: m.size, loss: m.loss, accuracy: m.accuracy, macroAccuracy: m.macroAccuracy, f1Macro: m.f1Macro}]
        }),
      ) as Record<SplitName, {samples: number; loss: number; accuracy: number; macroAccuracy: number; f1Macro: number}>,
      classificationReport: classificationReport(evalSplit.labels, evalPredicted),
      predictions: rows,
      gallery: galleryFromPixels(rows, data.dataset.source.pixels),
    },
    {
      roc,
      lrTrace: config.learning_rate_trace,
      timing: config.timing_stats,
      reliability: buildReliability('eval', data.tensors.eval.y, input.calibration.uncalibratedEvalProbs, predictions.eval.probs, input.calibration.temperature),
    },
  )
  return files.map((f) => f.name)
}
