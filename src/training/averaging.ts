/**
 * `--ema-decay`: an exponential moving average of the network's values
 * (weights and batch-norm statistics), updated after every optimisation step
 * (Polyak averaging, as timm's `ModelEmaV2` and TensorFlow's
 * `ExponentialMovingAverage` keep it). Validation, checkpoints and everything
 * downstream use the average; training goes on with the live weights.
 */

/** Decay at step t: min(decay, (1 + t) / (10 + t)), so the first steps are not dominated by the initial weights. */
export function averagingDecay(decay: number, step: number): number {
  return Math.min(decay, (1 + step) / (10 + step))
}

export class WeightAverage {
  /** The averaged values, by the network's value names. */
  readonly values: Record<string, Float32Array>

  /**
   * @param decay the target decay (0 < decay < 1)
   * @param initial the values the average starts from (copied)
   * @param steps steps already averaged (a resumed run continues its count)
   */
  constructor(
    readonly decay: number,
    initial: Record<string, ArrayLike<number>>,
    public steps = 0,
  ) {
    this.values = Object.fromEntries(Object.entries(initial).map(([name, data]) => [name, Float32Array.from(data)]))
  }

  /** Fold in the values after one more step. */
  update(current: Record<string, ArrayLike<number>>): void {
    this.steps += 1
    const keep = averagingDecay(this.decay, this.steps)
    for (const [name, average] of Object.entries(this.values)) {
      const live = current[name]
      if (!live || live.length !== average.length) throw new Error(`weight average: no value ${name} of ${average.length} numbers`)
      for (let i = 0; i < average.length; i++) average[i] = keep * average[i] + (1 - keep) * live[i]
    }
  }
}

/** What the averaging callback needs of a module: its values now, and a way to put others in. */
export interface AveragedModule {
  parameterValues(): Record<string, Float32Array>
  assignValues(values: Record<string, Float32Array>): void
}

/** Keys of the live weights and the averaged step count among a checkpoint's optimiser tensors. */
const LIVE_PREFIX = 'live/'
const AVERAGE_STEPS = 'average/steps'

/**
 * `--ema-decay` as a callback (Lightning's `WeightAveraging`): the average is
 * folded in after every batch, validated in place of the live weights, and
 * kept as a checkpoint's values; the live weights training continues from ride
 * with the optimiser state, so `--resume` continues both bit for bit. The
 * average stays in the network from validation until the next epoch starts,
 * so every checkpoint written after an epoch holds it.
 */
export class WeightAveraging {
  readonly name = 'weight_averaging'
  private average?: WeightAverage
  /** The live weights while the average stands in for them (validation and the checkpoints after it). */
  private live?: Record<string, Float32Array>

  constructor(readonly decay: number) {}

  onFitStart(state: {module: AveragedModule}): void {
    this.average ??= new WeightAverage(this.decay, state.module.parameterValues())
  }

  onEpochStart(state: {module: AveragedModule}): void {
    this.putBackLive(state.module)
  }

  onBatchEnd(state: {module: AveragedModule}): void {
    this.average!.update(state.module.parameterValues())
  }

  onValidationStart(state: {module: AveragedModule}): void {
    this.live = state.module.parameterValues()
    state.module.assignValues(this.average!.values)
  }

  onFitEnd(state: {module: AveragedModule}): void {
    this.putBackLive(state.module)
  }

  /** A checkpoint's extra tensors: the live weights and the step count, beside the optimiser's slots. */
  checkpointTensors(module: AveragedModule): Record<string, Float32Array> {
    const live = this.live ?? module.parameterValues()
    const out: Record<string, Float32Array> = Object.fromEntries(Object.entries(live).map(([name, data]) => [`${LIVE_PREFIX}${name}`, Float32Array.from(data)]))
    out[AVERAGE_STEPS] = Float32Array.of(this.average?.steps ?? 0)
    return out
  }

  /** Resume: the checkpoint's values are the average (the network was built from them); its live weights go back in. */
  loadCheckpointTensors(module: AveragedModule, tensors: Record<string, Float32Array>): void {
    const average = module.parameterValues()
    const live = Object.fromEntries(Object.keys(average).map((name) => [name, tensors[`${LIVE_PREFIX}${name}`]]))
    const missing = Object.entries(live).find(([, data]) => !data)
    if (missing || !tensors[AVERAGE_STEPS]) throw new Error(`the checkpoint holds no weight average state (${missing?.[0] ?? AVERAGE_STEPS})`)
    this.average = new WeightAverage(this.decay, average, tensors[AVERAGE_STEPS][0])
    module.assignValues(live as Record<string, Float32Array>)
  }

  private putBackLive(module: AveragedModule): void {
    if (!this.live) return
    module.assignValues(this.live)
    this.live = undefined
  }
}
