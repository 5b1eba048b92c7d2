import {createRequire} from 'node:module'

import type * as Core from '@tensorflow/tfjs-core'

const require = createRequire(import.meta.url)

/**
 * tfjs-core, loaded with `require`. The package is one 1.2 MB CommonJS bundle:
 * an ESM `import` makes Node scan all of it for export names before running it
 * (70–190 ms of every command's start-up here), `require` does not. Both give
 * the same module instance, so backends and kernels registered either way meet.
 */
export const tf: typeof Core = require('@tensorflow/tfjs-core')

/** Load another tfjs CommonJS package (backends, layers) the same way. */
export function requireTfjs<T>(name: '@tensorflow/tfjs-backend-wasm' | '@tensorflow/tfjs-backend-cpu' | '@tensorflow/tfjs-layers'): T {
  return require(name) as T
}

// The types of tfjs-core, under the same name as the value, so `tf.Tensor4D` reads as it did with `import * as tf`.
// eslint-disable-next-line @typescript-eslint/no-namespace -- a type-only namespace mirrors tfjs's own `tf.` names
export declare namespace tf {
  export type AdamOptimizer = Core.AdamOptimizer
  export type BackendValues = Core.BackendValues
  export type DataId = Core.DataId
  export type DataType = Core.DataType
  export type ExplicitPadding = Core.backend_util.ExplicitPadding
  export type GradConfig = Core.GradConfig
  export type GradSaveFunc = Core.GradSaveFunc
  export type KernelConfig = Core.KernelConfig
  export type KernelFunc = Core.KernelFunc
  export type NamedAttrMap = Core.NamedAttrMap
  export type NamedTensorInfoMap = Core.NamedTensorInfoMap
  export type NamedTensorMap = Core.NamedTensorMap
  export type Optimizer = Core.Optimizer
  export type Rank = Core.Rank
  export type Scalar = Core.Scalar
  export type Tensor<R extends Core.Rank = Core.Rank> = Core.Tensor<R>
  export type Tensor1D = Core.Tensor1D
  export type Tensor2D = Core.Tensor2D
  export type Tensor3D = Core.Tensor3D
  export type Tensor4D = Core.Tensor4D
  export type TensorInfo = Core.TensorInfo
  export type Variable<R extends Core.Rank = Core.Rank> = Core.Variable<R>
}
