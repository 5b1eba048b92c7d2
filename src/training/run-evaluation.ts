/**
 * Evaluating a checkpoint on a split, end to end (Lightning's `trainer.test(ckpt_path=…)`):
 * the run-level counterpart of `runTraining`, beside it above the evaluation and artifact layers.
 */
import type {ArtifactFile} from '../artifacts/schemas.js'
import type {BackendChoice} from '../config.js'
import {type EvalSplit, type Evaluation, evaluateSplit, rebuildSplit} from '../evaluation/evaluate.js'
import {loadPredictor} from '../model/predictor.js'
import {makeFolder} from '../util/paths.js'

/** Everything one evaluation needs: the library's counterpart of `runTraining`'s `TrainRun`. */
export interface EvaluationRun {
  checkpointPath: string
  dataDir: string
  split: EvalSplit
  batchSize: number
  backend: BackendChoice
  threads: number
  /** Apply the checkpoint's fitted temperature to the probabilities. */
  calibrate: boolean
  /** Also write this split's predictions, confusion matrix and gallery here. */
  outputDir?: string
  /** With `outputDir`, also write one-vs-rest ROC curves. */
  rocPerClass?: boolean
}

export interface EvaluationHooks {
  /** One human-readable progress line (timing, files written). */
  note?: (line: string) => void
}

export interface EvaluationSummary {
  checkpointId: string
  backend: string
  images: number
  evaluation: Evaluation
  files: ArtifactFile[]
}

/** Loads the checkpoint, rebuilds its split, evaluates it and (with `outputDir`) writes the split's artifacts. */
export async function runEvaluation(run: EvaluationRun, hooks: EvaluationHooks = {}): Promise<EvaluationSummary> {
  const note = hooks.note ?? (() => {})
  // A folder that cannot be made fails now, not after the evaluation it would hold.
  if (run.outputDir) await makeFolder(run.outputDir, 'choose another --output-dir')
  const predictor = await loadPredictor(run.checkpointPath, {backend: run.backend, threads: run.threads, calibrate: run.calibrate})
  try {
    const data = await rebuildSplit(predictor.checkpoint, run.dataDir, run.split)
    const evaluation = await evaluateSplit(predictor, data, run.split, run.batchSize)
    const images = data.split.labels.length
    note(
      `${run.split}: ${images} images in ${evaluation.seconds.toFixed(2)} s (${Math.round(evaluation.imagesPerSecond)} images/s, backend ${predictor.backend})`,
    )
    let files: ArtifactFile[] = []
    if (run.outputDir) {
      const [{writeEvaluationArtifacts}, {rocCurves}, {probabilityRows}] = await Promise.all([
        import('../artifacts/run.js'),
        import('../evaluation/roc.js'),
        import('../model/probabilities.js'),
      ])
      const {classes} = predictor
      const roc = run.rocPerClass ? rocCurves(data.split.labels, probabilityRows(evaluation.probs, classes.length), classes) : undefined
      files = await writeEvaluationArtifacts(run.outputDir, {data, evaluation}, {roc})
      note(`wrote ${files.map((f) => f.name).join(', ')} to ${run.outputDir}`)
    }

    return {checkpointId: predictor.checkpointId, backend: predictor.backend, images, evaluation, files}
  } finally {
    predictor.dispose()
  }
}
