/**
 * Fit-end callbacks: what a run fits on its best checkpoint once the epochs
 * are over (Lightning's fit-end hooks, after the best checkpoint is scored as
 * `trainer.test(ckpt_path='best')` scores it). Each reads the best network and
 * its validation outputs, adds its field to best.ckpt's fit end and says what
 * it fitted in one line; none changes a weight or draws from the run's random
 * stream, and the training loop knows none of them. In order:
 *
 * - `TemperatureScaling` (`calibrate`, on by default): the temperature that
 *   minimises the validation NLL (src/evaluation/calibration.ts);
 * - `OpenSetDecision`: the "one of my digits" decision (src/evaluation/openset.ts),
 *   at the temperature fitted before it.
 *   - `reject: none` (default): the post-hoc score DEFAULT_KNOWN_SCORE of the
 *     validation logits, thresholded at KNOWN_RATE of the validation split;
 *   - `reject: other-digits`: a logistic reject head on the frozen features,
 *     positives the training split, negatives a sample of the training file's
 *     other digits (never evaluated); its threshold, likewise, on validation.
 */
import {loadOtherDigits, splitTensors} from '../data/dataset.js'
import {fitTemperature, nllWithTemperature} from '../evaluation/calibration.js'
import {DEFAULT_KNOWN_SCORE, KNOWN_RATE, type OpenSet, fitKnownThreshold, knownRate, knownScores, rejectScores} from '../evaluation/openset.js'
import {fitRejectHead} from '../evaluation/reject-head.js'
import type {CheckpointHeader} from '../model/checkpoint.js'
import {type Network, networkFeatures} from '../model/network.js'
import type {TrainingConfig} from './config.js'
import type {PreparedData, TrainRun} from './data.js'
import type {SplitOutputs} from './module.js'

/** Other digits of the training file a reject head is fitted against (a seeded sample). */
export const REJECT_NEGATIVES = 5000

/** What a run fits after its epochs, stored in best.ckpt's header. */
export type FitEnd = Pick<CheckpointHeader, 'calibration' | 'openSet'>

/** The best checkpoint, scored: what every fit-end callback reads. */
export interface BestModel {
  run: TrainRun
  data: PreparedData
  /** The best model's network (read only). */
  network: Network
  /** Its validation split's outputs (logits, predictions, loss). */
  val: SplitOutputs
}

export interface FitEndCallback {
  readonly name: string
  /** Fit on the best model, given what the callbacks before it fitted: the fields it adds, and one line on what it found. */
  onFitEnd(best: BestModel, fitted: FitEnd): Promise<{fitted: Partial<FitEnd>; line: string}> | {fitted: Partial<FitEnd>; line: string}
}

/** The temperature of the validation logits (Guo et al.'s temperature scaling): probabilities change, predictions do not. */
export class TemperatureScaling implements FitEndCallback {
  readonly name = 'temperature_scaling'

  onFitEnd({data, val}: BestModel): {fitted: Partial<FitEnd>; line: string} {
    const {y} = data.tensors.val
    const k = data.dataset.classes.length
    const temperature = fitTemperature(val.logits, y, k)
    const calibration = {
      temperature,
      fittedOn: 'val' as const,
      nllBefore: nllWithTemperature(val.logits, y, 1, k),
      nllAfter: nllWithTemperature(val.logits, y, temperature, k),
    }
    const line =
      temperature === 1
        ? "calibration: no temperature improves the validation NLL (a split classified without error has none); probabilities stay the network's"
        : `calibration: temperature ${temperature.toFixed(4)} (validation NLL ${calibration.nllBefore.toFixed(4)} → ${calibration.nllAfter.toFixed(4)})`
    return {fitted: {calibration}, line}
  }
}

/** The open-set decision (see above) of the best model, at `temperature`. */
async function fitOpenSet(best: BestModel, config: Pick<TrainingConfig, 'reject' | 'seed'>, temperature: number): Promise<OpenSet> {
  const {data, network} = best
  const k = data.dataset.classes.length
  if (config.reject === 'none') {
    const val = knownScores(best.val.logits, k, DEFAULT_KNOWN_SCORE, temperature)
    const threshold = fitKnownThreshold(val, KNOWN_RATE)
    return {
      score: DEFAULT_KNOWN_SCORE,
      threshold,
      temperature,
      knownRate: KNOWN_RATE,
      fittedOn: 'val',
      valKnownRate: knownRate(val, threshold),
      rejectHead: null,
    }
  }

  const others = await loadOtherDigits(best.run.dataDir, data.dataset.classes, REJECT_NEGATIVES, config.seed)
  const negatives = splitTensors(others.source, others.split, data.normalization, data.dataset.classes).x
  const own = await networkFeatures(network, data.tensors.train.x)
  const other = await networkFeatures(network, negatives)
  const head = fitRejectHead(own.values, other.values, own.dim)
  const val = rejectScores((await networkFeatures(network, data.tensors.val.x)).values, head)
  const threshold = fitKnownThreshold(val, KNOWN_RATE)
  return {score: 'reject_head', threshold, temperature, knownRate: KNOWN_RATE, fittedOn: 'val', valKnownRate: knownRate(val, threshold), rejectHead: head}
}

/** The open-set decision of best.ckpt (see above), at the temperature fitted before it (1 without one). */
export class OpenSetDecision implements FitEndCallback {
  readonly name = 'open_set'

  constructor(private readonly config: Pick<TrainingConfig, 'reject' | 'seed'>) {}

  async onFitEnd(best: BestModel, fitted: FitEnd): Promise<{fitted: Partial<FitEnd>; line: string}> {
    const openSet = await fitOpenSet(best, this.config, fitted.calibration?.temperature ?? 1)
    const score = openSet.score === 'reject_head' ? `reject head on ${openSet.rejectHead?.negatives} other digits of the training file` : openSet.score
    const line = `open set: ${score}, threshold ${openSet.threshold.toPrecision(4)} (validation known-rate ${(openSet.valKnownRate * 100).toFixed(1)}%)`
    return {fitted: {openSet}, line}
  }
}

/** A run's fit-end callbacks, from its configuration. */
export function fitEndCallbacks(config: Pick<TrainingConfig, 'calibrate' | 'reject' | 'seed'>): FitEndCallback[] {
  return [...(config.calibrate ? [new TemperatureScaling()] : []), new OpenSetDecision(config)]
}

/** Run the fit-end callbacks in order, each seeing what those before it fitted; each writes its line to `progress`. */
export async function runFitEnd(callbacks: readonly FitEndCallback[], best: BestModel, progress: NodeJS.WritableStream): Promise<FitEnd> {
  let fitted: FitEnd = {calibration: null, openSet: null}
  for (const callback of callbacks) {
    const result = await callback.onFitEnd(best, fitted)
    fitted = {...fitted, ...result.fitted}
    progress.write(`${result.line}\n`)
  }

  return fitted
}
