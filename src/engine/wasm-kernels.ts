/**
 * Training kernels for tfjs's wasm backend, registered through tfjs's public
 * kernel and gradient registries.
 *
 * The wasm backend registers no `Conv2DBackpropFilter` at all, and runs
 * `Conv2DBackpropInput` and `MaxPoolGrad` as plain scalar loops. Here:
 * - `Conv2DBackpropFilter` becomes matrix products (XNNPACK-backed
 *   `BatchMatMul`), one per filter tap, on shifted views of the input;
 * - `Conv2DBackpropInput` with stride 1 becomes a forward convolution (XNNPACK)
 *   of `dy` with the filter flipped and its channels swapped; other strides keep
 *   the backend's own kernel;
 * - `MaxPoolGrad` is a direct scatter to the first maximum of each window;
 * - the `FusedBatchNorm` gradient broadcasts instead of tiling `1/sqrt(var+ε)`
 *   to the activation's full shape.
 * Each is checked against the cpu backend in test/engine/wasm-kernels.test.ts.
 * Also registered here: the CNN's one-kernel training step (`./cnn-gradients.ts`)
 * and the one-kernel Adam update (`./adam.ts`, for cpu as well).
 */
import {tf} from './tf.js'
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm'

import {adamUpdateConfigs} from './adam.js'
import {cnnGradientsConfig} from './cnn-gradients.js'
import {aliasOf, free, releaseAlias, runWasmKernel as run} from './wasm-heap.js'

type Info = tf.TensorInfo
type Attrs = tf.NamedAttrMap

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap
  backend: BackendWasm
  attrs: Attrs
}

type Pad = 'valid' | 'same' | number | tf.ExplicitPadding
type Rounding = 'floor' | 'round' | 'ceil' | undefined

let originals: Map<string, tf.KernelConfig> | undefined

/** Register the training kernels and gradients (once per process). */
export function registerWasmKernels(): void {
  if (originals) return
  originals = new Map()
  for (const config of [conv2DBackpropFilterConfig, conv2DBackpropInputConfig, maxPoolGradConfig]) {
    const existing = tf.getKernel(config.kernelName, 'wasm')
    if (existing) {
      originals.set(config.kernelName, existing)
      tf.unregisterKernel(config.kernelName, 'wasm')
    }

    tf.registerKernel(config)
  }

  tf.registerGradient(fusedBatchNormGradConfig)
  for (const config of [cnnGradientsConfig, ...adamUpdateConfigs]) tf.registerKernel(config)
}

const setUp = new WeakSet<object>()

/** The backend's own kernel we replaced; its set-up (binding the C++ function) is skipped once it is unregistered. */
function runOriginal(name: string, backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: Attrs): Info {
  const config = originals?.get(name)
  if (!config) throw new Error(`no original wasm kernel ${name}`)
  if (config.setupFunc && !setUp.has(backend)) {
    config.setupFunc(backend)
    setUp.add(backend)
  }

  return config.kernelFunc({inputs, backend, attrs}) as Info
}

function requireNhwc(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`${kernel} on wasm supports only NHWC (channels-last) data, got ${String(dataFormat)}`)
  }
}

/**
 * dW[di,dj,c,o] = Σ_{b,i,j} xpad[b, i·s+di, j·s+dj, c] · dy[b,i,j,o].
 *
 * Lay the padded input out channel-major, each (channel, image) plane flat
 * with row length Wp, and scatter dy onto the same grid (zeros between strided
 * positions and in the margins). Then tap (di, dj) is the matrix product of the
 * input shifted by di·Wp + dj (a view, no copy) with the scattered dy: nine
 * products of [C, B·Hp·Wp] × [B·Hp·Wp, O] for a 3×3 filter. A shifted read
 * never crosses into the next plane where dy is non-zero; a zero tail covers
 * the shift past the last plane.
 */
function conv2DBackpropFilter({inputs, backend, attrs}: KernelArgs): Info {
  const {x, dy} = inputs as {x: Info; dy: Info}
  const {strides, pad, dataFormat, dimRoundingMode, filterShape} = attrs as unknown as {
    strides: [number, number] | number
    pad: Pad
    dataFormat: string
    dimRoundingMode: Rounding
    filterShape: [number, number, number, number]
  }
  requireNhwc('Conv2DBackpropFilter', dataFormat)
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode)
  const [batch, height, width, channels] = x.shape
  const {outHeight, outWidth, outChannels, strideHeight, strideWidth, filterHeight, filterWidth} = info
  const top = info.padInfo.top
  const left = info.padInfo.left
  const gridHeight = (outHeight - 1) * strideHeight + filterHeight
  const gridWidth = (outWidth - 1) * strideWidth + filterWidth
  const plane = gridHeight * gridWidth
  const tail = (filterHeight - 1) * gridWidth + filterWidth - 1
  const columns = batch * plane

  const grid = backend.makeOutput([channels * columns + tail], 'float32')
  const scattered = backend.makeOutput([1, columns, outChannels], 'float32')
  // Views only after every allocation: a malloc may grow (and so detach) the heap.
  const xs = backend.typedArrayFromHeap(x)
  const dys = backend.typedArrayFromHeap(dy)
  const gs = backend.typedArrayFromHeap(grid)
  const ss = backend.typedArrayFromHeap(scattered)
  gs.fill(0)
  ss.fill(0)
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < height; i++) {
      const r = i + top
      if (r < 0 || r >= gridHeight) continue
      for (let j = 0; j < width; j++) {
        const q = j + left
        if (q < 0 || q >= gridWidth) continue
        const from = ((b * height + i) * width + j) * channels
        const to = (b * gridHeight + r) * gridWidth + q
        for (let c = 0; c < channels; c++) gs[c * columns + to] = xs[from + c]
      }
    }
  }

  const rowLength = outWidth * outChannels
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < outHeight; i++) {
      const from = (b * outHeight + i) * rowLength
      const rowStart = (b * plane + i * strideHeight * gridWidth) * outChannels
      if (strideWidth === 1) {
        ss.set(dys.subarray(from, from + rowLength), rowStart)
      } else {
        for (let j = 0; j < outWidth; j++) {
          const to = rowStart + j * strideWidth * outChannels
          for (let o = 0; o < outChannels; o++) ss[to + o] = dys[from + j * outChannels + o]
        }
      }
    }
  }

  const out = backend.makeOutput(filterShape, 'float32')
  const base = backend.getMemoryOffset(grid.dataId)
  const taps: Info[] = []
  try {
    for (let di = 0; di < filterHeight; di++) {
      for (let dj = 0; dj < filterWidth; dj++) {
        const shifted = aliasOf(backend, base + 4 * (di * gridWidth + dj), [1, channels, columns])
        try {
          taps.push(run('BatchMatMul', backend, {a: shifted, b: scattered}, {transposeA: false, transposeB: false}))
        } finally {
          releaseAlias(backend, shifted)
        }
      }
    }

    const os = backend.typedArrayFromHeap(out)
    const tapSize = channels * outChannels
    for (const [t, tap] of taps.entries()) os.set(backend.typedArrayFromHeap(tap), t * tapSize)
  } finally {
    free(backend, grid, scattered, ...taps)
  }

  return out
}

/**
 * dx = dy ⋆ W' with W'[a,b,o,c] = W[kh-1-a, kw-1-b, c, o]: for stride 1 the
 * input gradient is a forward correlation, which XNNPACK runs. The padding is
 * what is left of the kernel's reach: kh-1-top above, kh-1-bottom below.
 */
function conv2DBackpropInput(args: KernelArgs): Info {
  const {inputs, backend, attrs} = args
  const {dy, filter} = inputs as {dy: Info; filter: Info}
  const {strides, pad, dataFormat, dimRoundingMode, inputShape} = attrs as unknown as {
    strides: [number, number] | number
    pad: Pad
    dataFormat: string
    dimRoundingMode: Rounding
    inputShape: [number, number, number, number]
  }
  requireNhwc('Conv2DBackpropInput', dataFormat)
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode)
  const [kh, kw, inChannels, outChannels] = filter.shape
  const top = kh - 1 - info.padInfo.top
  const left = kw - 1 - info.padInfo.left
  const bottom = info.inHeight - info.outHeight + info.padInfo.top
  const right = info.inWidth - info.outWidth + info.padInfo.left
  if (info.strideHeight !== 1 || info.strideWidth !== 1 || Math.min(top, left, bottom, right) < 0) {
    // Strided (or over-padded) cases keep the backend's own, slower but general kernel.
    return runOriginal('Conv2DBackpropInput', backend, inputs, attrs)
  }

  const flipped = backend.makeOutput([kh, kw, outChannels, inChannels], 'float32')
  const ws = backend.typedArrayFromHeap(filter)
  const fs = backend.typedArrayFromHeap(flipped)
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      const from = ((kh - 1 - a) * kw + (kw - 1 - b)) * inChannels * outChannels
      const to = (a * kw + b) * outChannels * inChannels
      for (let c = 0; c < inChannels; c++) {
        for (let o = 0; o < outChannels; o++) fs[to + o * inChannels + c] = ws[from + c * outChannels + o]
      }
    }
  }

  try {
    return run(
      'Conv2D',
      backend,
      {x: dy, filter: flipped},
      {strides: 1, pad: [[0, 0], [top, bottom], [left, right], [0, 0]], dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined} as unknown as Attrs,
    )
  } finally {
    free(backend, flipped)
  }
}

/** Route dy to the first maximum (row-major) of each pooling window, as the cpu backend does. */
function maxPoolGrad({inputs, backend, attrs}: KernelArgs): Info {
  const {dy, input} = inputs as {dy: Info; input: Info}
  const {filterSize, strides, pad, dimRoundingMode} = attrs as unknown as {
    filterSize: [number, number] | number
    strides: [number, number] | number
    pad: Pad
    dimRoundingMode: Rounding
  }
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad, dimRoundingMode)
  const {batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth} = info
  const top = info.padInfo.top
  const left = info.padInfo.left
  const dx = backend.makeOutput(input.shape, 'float32')
  const xs = backend.typedArrayFromHeap(input)
  const dys = backend.typedArrayFromHeap(dy)
  const dxs = backend.typedArrayFromHeap(dx)
  dxs.fill(0)
  let k = 0
  for (let b = 0; b < batchSize; b++) {
    const image = b * inHeight
    for (let oh = 0; oh < outHeight; oh++) {
      const r0 = Math.max(0, oh * strideHeight - top)
      const r1 = Math.min(inHeight, oh * strideHeight - top + filterHeight)
      for (let ow = 0; ow < outWidth; ow++) {
        const c0 = Math.max(0, ow * strideWidth - left)
        const c1 = Math.min(inWidth, ow * strideWidth - left + filterWidth)
        for (let ch = 0; ch < inChannels; ch++, k++) {
          let best = -1
          let bestValue = Number.NEGATIVE_INFINITY
          for (let r = r0; r < r1; r++) {
            for (let c = c0; c < c1; c++) {
              const at = ((image + r) * inWidth + c) * inChannels + ch
              if (xs[at] > bestValue) {
                bestValue = xs[at]
                best = at
              }
            }
          }

          if (best >= 0) dxs[best] += dys[k]
        }
      }
    }
  }

  return dx
}

const conv2DBackpropFilterConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
}

const conv2DBackpropInputConfig: tf.KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as tf.KernelFunc,
}

const maxPoolGradConfig: tf.KernelConfig = {
  kernelName: tf.MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as tf.KernelFunc,
}

/**
 * tfjs-core's gradient, minus its `tile` of 1/sqrt(var+ε) to the full
 * activation shape: broadcasting multiplies by it just the same. Registered for
 * every backend (a gradient is backend-independent).
 */
const fusedBatchNormGradConfig: tf.GradConfig = {
  kernelName: tf.FusedBatchNorm,
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const gradient = dy as tf.Tensor
    const {varianceEpsilon} = attrs as unknown as {varianceEpsilon: number}
    const [x, mean, variance, scale] = saved
    const scaleValue = scale ?? tf.scalar(1)
    const axes = tf.backend_util.getReductionAxes(mean.shape, x.shape)
    const reduce = (t: tf.Tensor): tf.Tensor => tf.reshape(axes.length > 0 ? tf.sum(t, axes) : t, mean.shape)
    const rsqrt = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)))
    const dyScaled = tf.mul(gradient, scaleValue)
    const centered = tf.sub(x, mean)
    return {
      x: () => tf.mul(dyScaled, rsqrt),
      mean: () => reduce(tf.neg(tf.mul(dyScaled, rsqrt))),
      variance: () => reduce(tf.mul(tf.mul(centered, dyScaled), tf.mul(tf.pow(rsqrt, 3), -0.5))),
      scale: () => reduce(tf.mul(gradient, tf.mul(centered, rsqrt))),
      offset: () => reduce(gradient),
    }
  },
}
