/**
 * Seeded pseudo-random numbers: Mulberry32 (Tommy Ettinger's 32-bit generator,
 * public domain), chosen because it is tiny, fast, passes the gjrand/PractRand
 * batteries it is commonly checked with up to far more draws than we make, and
 * gives the same sequence on every JavaScript engine (pure 32-bit integer math).
 * `Math.random` is never used: splits, initial weights and shuffling must be the
 * same on every machine for the same seed.
 */
export class Rng {
  private state: number

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`)
    // Fold 53-bit seeds into 32 bits so large seeds still differ.
    this.state = (seed ^ Math.floor(seed / 2 ** 32)) >>> 0
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x6d_2b_79_f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4_294_967_296
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** Uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next()
  }

  /** Fisher–Yates shuffle in place; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const tmp = items[i]
      items[i] = items[j]
      items[j] = tmp
    }

    return items
  }

  /** A child generator whose stream does not overlap this one's use (for independent purposes). */
  fork(salt: number): Rng {
    return new Rng((this.nextUint32() ^ Math.imul(salt, 0x9e_37_79_b9)) >>> 0)
  }
}
