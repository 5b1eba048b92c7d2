import {tf} from '../engine/tf.js'

import {type LossKind, PIXELS} from '../config.js'
import {type Network, type NetworkDescription, createNetwork, initialValues, readValues} from '../model/network.js'
import {trainStep, weightedCrossEntropy} from '../model/step.js'
import {argmaxRow} from '../model/probabilities.js'
import {classificationReport} from '../evaluation/metrics.js'
import {type Logged, METRICS} from '../artifacts/epoch-log.js'

/** Images [N × 784] already normalised, and class indices (0..K−1, into the run's classes). */
export interface Batchable {
  x: Float32Array
  y: Int32Array
}

/**
 * What `trainingStep` reports for its batch (Lightning's `training_step`): the loss it minimised, and what
 * it logs, by metric name; the trainer averages each logged value over the epoch, weighted by batch size.
 */
export interface StepOutput {
  loss: number
  log: Logged
}

/** The network's outputs over a whole split (not the predictions.json document). */
export interface SplitOutputs {
  /** Mean weighted loss over the samples. */
  loss: number
  /** Predicted class index per sample. */
  predicted: Int32Array
  /** Softmax probabilities, [N × K] row-major. */
  probs: Float32Array
  /** The logits behind them, [N × K] row-major: what temperature scaling is fitted on. */
  logits: Float32Array
}

/**
 * What the network is and how one step computes its loss: the Lightning
 * "module". It owns the network, the optimiser and the class weights; the
 * trainer owns the loop.
 */
export class DigitModule {
  readonly network: Network
  readonly optimizer: tf.AdamOptimizer
  /** Class indices 0..K−1, the labels of the module's reports. */
  private readonly classIndices: number[]
  private readonly classWeights: tf.Tensor1D
  /** Seeds the dropout masks (the run's seed). */
  private readonly seed: number
  /** Added to the logits in the training loss (the logit-adjusted loss: log priors); none, the plain weighted loss. */
  private readonly logitOffsets?: number[]

  /**
   * @param net the network to train (`describeNetwork`).
   * @param options.values the values to start from: fresh ones are drawn from the seed.
   * @param options.logitOffsets added to the logits in the training loss only, one per class.
   */
  constructor(
    net: NetworkDescription,
    options: {seed: number; learningRate: number; classWeights: number[]; values?: Record<string, Float32Array>; logitOffsets?: number[]},
  ) {
    const values = options.values ?? initialValues(net, options.seed)
    this.network = createNetwork(net, values)
    this.classIndices = Array.from({length: net.dense.units}, (_, i) => i)
    this.seed = options.seed
    this.logitOffsets = options.logitOffsets
    this.optimizer = tf.train.adam(options.learningRate)
    this.classWeights = tf.tensor1d(options.classWeights, 'float32')
  }

  /** tfjs declares Adam's rate protected but reads it on every update, which is what a scheduler needs. */
  get learningRate(): number {
    return (this.optimizer as unknown as {learningRate: number}).learningRate
  }

  set learningRate(value: number) {
    ;(this.optimizer as unknown as {learningRate: number}).learningRate = value
  }

  /** One optimisation step on a batch; logs its loss and accuracy (Lightning's `training_step`). */
  trainingStep(x: Float32Array, y: Int32Array): StepOutput {
    const batch = y.length
    const xs = tf.tensor4d(x, [batch, 28, 28, 1])
    const ys = tf.tensor1d(y, 'int32')
    const {loss, correct} = trainStep(this.network, this.optimizer, xs, ys, this.classWeights, {dropoutSeed: this.seed, logitOffsets: this.logitOffsets})
    const value = loss.dataSync()[0]
    const out = {loss: value, log: {[METRICS.trainLoss.name]: value, [METRICS.trainAccuracy.name]: correct.dataSync()[0] / batch}}
    tf.dispose([xs, ys, loss, correct])
    return out
  }

  /** Validation over a whole split: logs its loss, balanced accuracy and macro F1 (Lightning's `validation_step`). */
  validationStep(data: Batchable): Logged {
    const outputs = this.predict(data)
    const report = classificationReport(data.y, outputs.predicted, this.classIndices)
    return {
      [METRICS.valLoss.name]: outputs.loss,
      [METRICS.valBalancedAccuracy.name]: report.balanced_accuracy,
      [METRICS.valF1Macro.name]: report.macro_avg.f1,
    }
  }

  private variables(): Record<string, tf.Variable> {
    return {...this.network.params, ...this.network.buffers}
  }

  /** The network's values (parameters and batch-norm statistics) by name, as they are now. */
  parameterValues(): Record<string, Float32Array> {
    return Object.fromEntries(Object.entries(this.variables()).map(([name, v]) => [name, v.dataSync() as Float32Array]))
  }

  /** Put `values` (by name, every one of the network's) into the network. */
  assignValues(values: Record<string, Float32Array>): void {
    tf.tidy(() => {
      for (const [name, v] of Object.entries(this.variables())) v.assign(tf.tensor(values[name], v.shape, 'float32'))
    })
  }

  /** Inference in evaluation mode over a whole split, in large batches. */
  predict(data: Batchable, batchSize = 256): SplitOutputs {
    const n = data.y.length
    const predicted = new Int32Array(n)
    const k = this.network.description.dense.units
    const probs = new Float32Array(n * k)
    const logitsOut = new Float32Array(n * k)
    let lossSum = 0
    let weightSum = 0
    const weights = this.classWeights.dataSync()
    for (let start = 0; start < n; start += batchSize) {
      const end = Math.min(n, start + batchSize)
      const [z, p, l] = tf.tidy(() => {
        const xs = tf.tensor4d(data.x.subarray(start * PIXELS, end * PIXELS), [end - start, 28, 28, 1])
        const ys = tf.tensor1d(data.y.subarray(start, end), 'int32')
        const logits = this.network.logits(xs, false)
        return [logits, tf.softmax(logits), weightedCrossEntropy(logits, ys, this.classWeights)]
      })
      probs.set(p.dataSync(), start * k)
      logitsOut.set(z.dataSync(), start * k)
      let batchWeight = 0
      for (let i = start; i < end; i++) batchWeight += weights[data.y[i]]
      lossSum += l.dataSync()[0] * batchWeight
      weightSum += batchWeight
      tf.dispose([z, p, l])
    }

    for (let i = 0; i < n; i++) {
      predicted[i] = argmaxRow(probs, i, k)
    }

    return {loss: weightSum > 0 ? lossSum / weightSum : 0, predicted, probs, logits: logitsOut}
  }

  /** The values a checkpoint keeps and predicts with. */
  async values(): Promise<Record<string, Float32Array>> {
    return readValues(this.network)
  }

  /**
   * Adam's slots, for checkpoints that can resume training. tfjs names slots
   * after the variables (unique per process), so they are stored under the
   * stable parameter names instead.
   */
  async optimizerState(): Promise<Record<string, Float32Array>> {
    const toParam = new Map(Object.entries(this.network.params).map(([param, v]) => [v.name, param]))
    const out: Record<string, Float32Array> = {}
    const weights = await this.optimizer.getWeights()
    for (const {name, tensor} of weights) out[renameSlot(name, toParam)] = Float32Array.from(await tensor.data())
    disposeIterations(weights)
    const {accBeta1, accBeta2} = this.adamPowers()
    out.accBeta1 = Float32Array.from(await accBeta1.data())
    out.accBeta2 = Float32Array.from(await accBeta2.data())
    return out
  }

  /**
   * Adam's running powers beta^t. tfjs's `setWeights` recomputes them with one
   * `pow`, which differs in the last bits from the product accumulated step by
   * step; restoring the saved values makes a resumed run bit-identical.
   */
  private adamPowers(): {accBeta1: tf.Variable; accBeta2: tf.Variable} {
    return this.optimizer as unknown as {accBeta1: tf.Variable; accBeta2: tf.Variable}
  }

  async loadOptimizerState(state: Record<string, Float32Array>): Promise<void> {
    // getWeights() always holds the iteration count; the moment slots appear with the first update.
    const current = await this.optimizer.getWeights()
    disposeIterations(current)
    if (current.length === 1) {
      // Adam creates its slots lazily on the first update; a zero update creates them and changes nothing.
      tf.tidy(() => this.optimizer.applyGradients(Object.fromEntries(Object.values(this.network.params).map((v) => [v.name, tf.zerosLike(v)]))))
    }

    const toParam = new Map(Object.entries(this.network.params).map(([param, v]) => [v.name, param]))
    const slots = await this.optimizer.getWeights()
    disposeIterations(slots)
    const weights = slots.map(({name, tensor}) => {
      const saved = state[renameSlot(name, toParam)]
      if (!saved || saved.length !== tensor.size) throw new Error(`optimizer slot ${renameSlot(name, toParam)} is missing from the checkpoint`)
      return {name, tensor: tf.tensor(saved, tensor.shape, tensor.dtype)}
    })
    // setWeights copies each value into a fresh variable and drops the slots it replaces.
    await this.optimizer.setWeights(weights)
    tf.dispose([...weights.map((w) => w.tensor), ...slots.filter((s) => s.tensor instanceof tf.Variable).map((s) => s.tensor)])
    const powers = this.adamPowers()
    tf.tidy(() => {
      for (const key of ['accBeta1', 'accBeta2'] as const) {
        if (state[key]) powers[key].assign(tf.scalar(state[key][0]))
      }
    })
  }

  dispose(): void {
    this.network.dispose()
    this.optimizer.dispose()
    this.classWeights.dispose()
  }
}

/** getWeights() returns the iteration count as a new scalar each call; the slots are the optimiser's own variables. */
function disposeIterations(weights: Array<{tensor: tf.Tensor}>): void {
  for (const {tensor} of weights) if (!(tensor instanceof tf.Variable)) tensor.dispose()
}

/** `conv1.kernel.17/m` → `conv1.kernel/m`; names without a variable part (`iter`) stay. */
function renameSlot(slot: string, toParam: Map<string, string>): string {
  const cut = slot.lastIndexOf('/')
  if (cut < 0) return slot
  const param = toParam.get(slot.slice(0, cut))
  return param ? `${param}${slot.slice(cut)}` : slot
}

/** The loss a run trains with (`--loss`): the weights of its cross-entropy and the offsets added to the logits. */
export interface LossTerms {
  classWeights: number[]
  logitOffsets?: number[]
}

/**
 * `weighted`: inverse-frequency weights, no offsets (the SPEC's loss). `logit-adjusted`: unit
 * weights and log(prior) of each class in the training split as offsets (Menon et al. 2021), as
 * bench/pytorch_train.py trains when given `logitOffsets`. A class absent from the split counts as one
 * image there, so its offset stays finite.
 */
export function lossTerms(kind: LossKind, y: Int32Array, classes: number): LossTerms {
  if (kind === 'weighted') return {classWeights: inverseFrequencyWeights(y, classes)}
  const counts = new Array<number>(classes).fill(0)
  for (const c of y) counts[c] += 1
  return {classWeights: counts.map(() => 1), logitOffsets: counts.map((count) => Math.log(Math.max(count, 1) / y.length))}
}

/** Inverse class frequency of the training split, scaled so a balanced split gives weight 1 ("balanced" weights). */
export function inverseFrequencyWeights(y: Int32Array, classes: number): number[] {
  const counts = new Array<number>(classes).fill(0)
  for (const c of y) counts[c] += 1
  return counts.map((count) => (count === 0 ? 0 : y.length / (classes * count)))
}
