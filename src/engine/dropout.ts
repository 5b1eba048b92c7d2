/**
 * Seeded dropout: whether unit u of image b is kept at optimisation step t is
 * a hash of (seed, t, b, u), not a draw from a stream. So the mask is the same
 * whichever thread computes which half of the batch, on every backend, and
 * after a resume (the step count is in the optimiser's saved state).
 */

/** A 32-bit integer finaliser (lowbias32): every input bit reaches every output bit. */
function mix(x: number): number {
  x ^= x >>> 16
  x = Math.imul(x, 0x7f_eb_35_2d)
  x ^= x >>> 15
  x = Math.imul(x, 0x84_6c_a6_8b)
  x ^= x >>> 16
  return x >>> 0
}

/**
 * Inverted dropout's multipliers for images [b0, b1) of a batch, [(b1 − b0) × units]:
 * 0 for a dropped unit, 1/(1 − rate) (in float32) for a kept one.
 */
export function dropoutMask(rate: number, units: number, seed: number, step: number, b0: number, b1: number): Float32Array {
  const keep = Math.fround(1 / (1 - rate))
  const out = new Float32Array((b1 - b0) * units)
  const key = mix(mix(seed >>> 0) ^ (step >>> 0))
  for (let b = b0; b < b1; b++) {
    const image = mix(key ^ Math.imul(b + 1, 0x9e_37_79_b9))
    for (let u = 0; u < units; u++) out[(b - b0) * units + u] = mix(image ^ u) / 2 ** 32 >= rate ? keep : 0
  }

  return out
}
