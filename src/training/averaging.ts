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
