/**
 * Adam's update of one variable as one kernel, for the cpu and wasm backends.
 *
 * tfjs's `AdamOptimizer.applyGradients` spends fourteen engine ops per variable
 * per step on a few thousand numbers; here it is one loop. The arithmetic is
 * tfjs's, operation for operation, rounded to float32 after each (`Math.fround`
 * of a float64 result is the correctly rounded float32 result for + − × ÷ √),
 * so the values are bit-identical to the optimizer's own. The moments live in
 * the optimizer's own slots, so `getWeights`/`setWeights` (checkpoints,
 * resuming) see no difference. Checked in test/engine/adam.test.ts.
 */
import {tf} from './tf.js'

export const ADAM_UPDATE = 'AdamUpdate'

export interface AdamAttrs {
  learningRate: number
  beta1: number
  beta2: number
  epsilon: number
  /** 1 − β1^t and 1 − β2^t, as float32 (tfjs computes them from its float32 accumulators). */
  correction1: number
  correction2: number
}

interface Backend {
  readSync(dataId: tf.DataId): tf.BackendValues
}

/** How each backend turns values into an output tensor. */
const writers: Record<string, (backend: Backend, shape: number[], values: Float32Array) => tf.TensorInfo> = {
  cpu: (backend, shape, values) => (backend as unknown as {makeTensorInfo: (s: number[], d: tf.DataType, v: Float32Array) => tf.TensorInfo}).makeTensorInfo(shape, 'float32', values),
  wasm: (backend, shape, values) =>
    (backend as unknown as {makeOutput: (s: number[], d: tf.DataType, offset: undefined, v: Float32Array) => tf.TensorInfo}).makeOutput(shape, 'float32', undefined, values),
}

function adamUpdate(
  {inputs, backend, attrs}: {inputs: tf.NamedTensorInfoMap; backend: Backend; attrs: tf.NamedAttrMap},
  write: (backend: Backend, shape: number[], values: Float32Array) => tf.TensorInfo,
): tf.TensorInfo[] {
  const {value, gradient, m, v} = inputs as {value: tf.TensorInfo; gradient: tf.TensorInfo; m: tf.TensorInfo; v: tf.TensorInfo}
  const {learningRate, beta1, beta2, epsilon, correction1, correction2} = attrs as unknown as AdamAttrs
  const f = Math.fround
  const x = backend.readSync(value.dataId) as Float32Array
  const g = backend.readSync(gradient.dataId) as Float32Array
  const m0 = backend.readSync(m.dataId) as Float32Array
  const v0 = backend.readSync(v.dataId) as Float32Array
  const size = x.length
  const x1 = new Float32Array(size)
  const m1 = new Float32Array(size)
  const v1 = new Float32Array(size)
  const b1 = f(beta1)
  const b2 = f(beta2)
  const oneMinusB1 = f(1 - beta1)
  const oneMinusB2 = f(1 - beta2)
  const c1 = f(correction1)
  const c2 = f(correction2)
  const eps = f(epsilon)
  const step = f(-learningRate)
  for (let i = 0; i < size; i++) {
    const gi = g[i]
    const mi = f(f(m0[i] * b1) + f(gi * oneMinusB1))
    const vi = f(f(v0[i] * b2) + f(f(gi * gi) * oneMinusB2))
    m1[i] = mi
    v1[i] = vi
    x1[i] = f(f(f(f(mi / c1) / f(f(Math.sqrt(f(vi / c2))) + eps)) * step) + x[i])
  }

  return [write(backend, value.shape, x1), write(backend, value.shape, m1), write(backend, value.shape, v1)]
}

export const adamUpdateConfigs: tf.KernelConfig[] = Object.entries(writers).map(([backendName, write]) => ({
  kernelName: ADAM_UPDATE,
  backendName,
  kernelFunc: ((args: Parameters<typeof adamUpdate>[0]) => adamUpdate(args, write)) as unknown as tf.KernelFunc,
}))

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

/**
 * What `optimizer.applyGradients` does, with one kernel per variable: lazily
 * created slots named `<variable>/m` and `/v` by position in `variables`, the
 * bias corrections from the running powers β^t, then β^t advanced and the
 * iteration counted.
 */
export function applyAdam(optimizer: tf.AdamOptimizer, variables: tf.Variable[], gradients: tf.Tensor[]): void {
  const adam = optimizer as unknown as AdamInternals
  tf.tidy(() => {
    const {settings, slots} = adamState(optimizer, variables)
    for (const [i, value] of variables.entries()) {
      const {m, v} = slots[i]
      const [newValue, newM, newV] = tf.engine().runKernel(ADAM_UPDATE, {value, gradient: gradients[i], m, v}, settings as unknown as tf.NamedAttrMap) as tf.Tensor[]
      m.assign(newM)
      v.assign(newV)
      value.assign(newValue)
    }

    adam.accBeta1.assign(tf.mul(adam.accBeta1, adam.beta1))
    adam.accBeta2.assign(tf.mul(adam.accBeta2, adam.beta2))
  })
  adam.incrementIterations()
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
