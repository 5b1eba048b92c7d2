/**
 * Adam's state inside tfjs's `AdamOptimizer`, for an update made outside it
 * (our kernel's, `kernels/cnn.c`, which does tfjs's arithmetic operation for
 * operation in float32, so the values are bit-identical to the optimizer's
 * own). The moments live in the optimizer's own slots, so
 * `getWeights`/`setWeights` (checkpoints, resuming) see no difference.
 * Checked in test/engine/cnn-kernel.test.ts.
 */
import {tf} from './tf.js'

export interface AdamAttrs {
  learningRate: number
  beta1: number
  beta2: number
  epsilon: number
  /** 1 − β1^t and 1 − β2^t, as float32 (tfjs computes them from its float32 accumulators). */
  correction1: number
  correction2: number
}

/** The parts of tfjs's AdamOptimizer this update uses; tfjs 4 declares them protected. */
interface AdamInternals {
  learningRate: number
  beta1: number
  beta2: number
  epsilon: number
  accBeta1: tf.Variable
  accBeta2: tf.Variable
  accumulatedFirstMoment: Array<{originalName: string; variable: tf.Variable}>
  accumulatedSecondMoment: Array<{originalName: string; variable: tf.Variable}>
  incrementIterations(): void
}

/** The settings of the next update and each variable's moment slots (created as tfjs creates them: zeros, named `<variable>/m`, `/v`). */
export function adamState(optimizer: tf.AdamOptimizer, variables: tf.Variable[]): {settings: AdamAttrs; slots: Array<{m: tf.Variable; v: tf.Variable}>} {
  const adam = optimizer as unknown as AdamInternals
  const correction1 = 1 - adam.accBeta1.dataSync()[0]
  const correction2 = 1 - adam.accBeta2.dataSync()[0]
  const settings = {learningRate: adam.learningRate, beta1: adam.beta1, beta2: adam.beta2, epsilon: adam.epsilon, correction1, correction2}
  const slots = variables.map((value, i) => {
    adam.accumulatedFirstMoment[i] ??= {originalName: `${value.name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false))}
    adam.accumulatedSecondMoment[i] ??= {originalName: `${value.name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false))}
    return {m: adam.accumulatedFirstMoment[i].variable, v: adam.accumulatedSecondMoment[i].variable}
  })
  return {settings, slots}
}

/** After an update made outside tfjs: β^t advanced (float32 products, as tfjs's `mul`) and the iteration counted. */
export function advanceAdam(optimizer: tf.AdamOptimizer, write: (variable: tf.Variable, values: Float32Array) => void): void {
  const adam = optimizer as unknown as AdamInternals
  const f = Math.fround
  write(adam.accBeta1, Float32Array.of(f(adam.accBeta1.dataSync()[0] * f(adam.beta1))))
  write(adam.accBeta2, Float32Array.of(f(adam.accBeta2.dataSync()[0] * f(adam.beta2))))
  adam.incrementIterations()
}
