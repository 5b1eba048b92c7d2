/**
 * The one set of helpers for working on the wasm backend's heap directly:
 * calling its kernels without the engine's per-op bookkeeping, tensors over
 * existing memory, and a scope that frees its temporaries together. Used by
 * the registered training kernels (`./wasm-kernels.ts`) and the XNNPACK
 * one-kernel step (`./cnn-gradients.ts`).
 */
import {tf} from './tf.js'
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm'

type Info = tf.TensorInfo

/** Run a wasm kernel directly, without the engine's per-op bookkeeping. */
export function runWasmKernel(name: string, backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: Record<string, unknown> = {}): Info {
  const config = tf.getKernel(name, 'wasm')
  if (!config) throw new Error(`wasm kernel ${name} is not registered`)
  return config.kernelFunc({inputs, backend, attrs: attrs as tf.NamedAttrMap}) as Info
}

export function free(backend: BackendWasm, ...infos: Info[]): void {
  for (const info of infos) backend.disposeData(info.dataId)
}

/** A tensor over existing heap memory (starting at `byteOffset`), which must not outlive it. */
export function aliasOf(backend: BackendWasm, byteOffset: number, shape: number[]): Info {
  return backend.makeOutput(shape, 'float32', byteOffset)
}

/** Forget an alias without freeing memory it does not own. */
export function releaseAlias(backend: BackendWasm, alias: Info): void {
  const {id} = backend.dataIdMap.get(alias.dataId) as unknown as {id: number}
  ;(backend.wasm as unknown as {tfjs: {disposeData(id: number): void}}).tfjs.disposeData(id)
  backend.dataIdMap.delete(alias.dataId)
}

/** Temporaries on the wasm heap, freed together. */
export class Heap {
  private readonly owned: Info[] = []

  constructor(readonly backend: BackendWasm) {}

  /** A wasm kernel's output, owned by this scope. */
  run(name: string, inputs: tf.NamedTensorInfoMap, attrs: Record<string, unknown> = {}): Info {
    return this.keep(runWasmKernel(name, this.backend, inputs, attrs))
  }

  /** A new float32 tensor, filled from `values`, else with zeros unless the caller writes every element itself. */
  tensor(shape: number[], values?: ArrayLike<number> | 'uninitialised'): Info {
    const info = this.keep(this.backend.makeOutput(shape, 'float32'))
    if (values === 'uninitialised') return info
    if (values) this.f32(info).set(values)
    else this.f32(info).fill(0)
    return info
  }

  keep(info: Info): Info {
    this.owned.push(info)
    return info
  }

  /** Hand a tensor to the caller (under `shape` if given): it is no longer freed with the scope. */
  release(info: Info, shape: number[] = info.shape): Info {
    const at = this.owned.indexOf(info)
    if (at >= 0) this.owned.splice(at, 1)
    return {dataId: info.dataId, shape, dtype: info.dtype}
  }

  free(info: Info): void {
    const at = this.owned.indexOf(info)
    if (at >= 0) this.owned.splice(at, 1)
    this.backend.disposeData(info.dataId)
  }

  /** Free by memory rather than by TensorInfo (for reshaped views of an owned tensor). */
  freeData(info: Info): void {
    const owner = this.owned.find((owned) => owned.dataId === info.dataId)
    this.free(owner ?? info)
  }

  freeAll(): void {
    for (const info of this.owned.splice(0)) this.backend.disposeData(info.dataId)
  }

  /**
   * A view of a tensor's memory. Take it after the last allocation it must
   * survive: growing the heap detaches earlier views.
   */
  f32(info: Info): Float32Array {
    return this.backend.typedArrayFromHeap(info) as Float32Array
  }

  /** The bits of a float32 tensor, as int32. */
  i32(info: Info): Int32Array {
    const f = this.f32(info)
    return new Int32Array(f.buffer, f.byteOffset, f.length)
  }

  /** A tensor over existing heap memory at `byteOffset`; it must not outlive that memory. */
  alias(byteOffset: number, shape: number[]): Info {
    return aliasOf(this.backend, byteOffset, shape)
  }

  /** Forget an alias without freeing memory it does not own. */
  releaseAlias(alias: Info): void {
    releaseAlias(this.backend, alias)
  }

  /** The same memory under another shape (no copy; the wasm kernels read shapes from the TensorInfo). */
  reshape(info: Info, shape: number[]): Info {
    return {dataId: info.dataId, shape, dtype: info.dtype}
  }
}
