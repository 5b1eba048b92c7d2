/**
 * The CNN's whole training-mode forward and backward pass as one wasm kernel.
 *
 * Taped, a step of this network is ~340 engine ops of tens of microseconds of
 * bookkeeping each, plus work the maths does not need (the first convolution's
 * input gradient, a scatter through every pooling window). Here the step calls
 * the backend's kernels directly, XNNPACK for everything large (convolutions,
 * matrix products, pooling, per-channel affine maps as 1×1 depthwise
 * convolutions), and JavaScript only where the work is small or sparse: batch
 * statistics from per-image means, the loss, and routing each pooled gradient
 * to its window's first maximum. Gradients and batch statistics come out; the
 * caller updates running statistics and applies the optimiser.
 *
 * Network (SPEC §2): [conv 'same' → batch norm → ReLU → max pool 2×2] × 2 →
 * dense, NHWC. Checked against taped plain ops on the cpu backend in
 * test/engine/cnn-gradients.test.ts.
 */
import {tf} from './tf.js'
import type {BackendWasm} from '@tensorflow/tfjs-backend-wasm'

import {KERNEL_PARAMETERS} from './cnn-kernel.js'
import {Heap} from './wasm-heap.js'

type Info = tf.TensorInfo

export const CNN_GRADIENTS = 'CnnTrainingGradients'

/** Parameter inputs, named as in the network and its checkpoints (the kernel's list, checked against the network); the gradients come out in this order. */
export const CNN_PARAMETERS = KERNEL_PARAMETERS

export type CnnParameter = (typeof CNN_PARAMETERS)[number]

/**
 * Outputs: loss (weighted mean cross-entropy), correct (int32 count), the ten
 * gradients, then each batch norm's batch mean and biased variance.
 */
export interface CnnGradients {
  loss: tf.Scalar
  correct: tf.Scalar
  gradients: Record<CnnParameter, tf.Tensor>
  statistics: Array<{mean: tf.Tensor1D; variance: tf.Tensor1D; count: number}>
}

/** Run the kernel: x [B, H, W, 1] normalised images, labels [B] int32 class indices, classWeights [classes]. */
export function cnnGradients(
  x: tf.Tensor4D,
  labels: tf.Tensor1D,
  classWeights: tf.Tensor1D,
  parameters: Record<CnnParameter, tf.Tensor>,
  epsilon: number,
): CnnGradients {
  const named = Object.fromEntries(CNN_PARAMETERS.map((name) => [name, parameters[name]]))
  const outputs = tf.engine().runKernel(CNN_GRADIENTS, {x, labels, classWeights, ...named}, {epsilon}) as tf.Tensor[]
  const [loss, correct, ...rest] = outputs
  const gradients = Object.fromEntries(CNN_PARAMETERS.map((name, i) => [name, rest[i]])) as Record<CnnParameter, tf.Tensor>
  const stats = rest.slice(CNN_PARAMETERS.length)
  const [batch, height, width] = x.shape
  return {
    loss: loss as tf.Scalar,
    correct: correct as tf.Scalar,
    gradients,
    statistics: [
      {mean: stats[0] as tf.Tensor1D, variance: stats[1] as tf.Tensor1D, count: batch * height * width},
      {mean: stats[2] as tf.Tensor1D, variance: stats[3] as tf.Tensor1D, count: batch * Math.floor(height / 2) * Math.floor(width / 2)},
    ],
  }
}

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap
  backend: BackendWasm
  attrs: tf.NamedAttrMap
}

interface Block {
  /** For a one-channel input, its patches [B·H·W, kh·kw]: the convolution was a product with them, and so is its filter gradient. */
  patches?: Info
  /** z − μ, [B, H, W, C]. */
  centered: Info
  /** relu(batchNorm(z)), [B, H, W, C]. */
  activation: Info
  /** maxPool2(activation), [B, ⌊H/2⌋, ⌊W/2⌋, C]. */
  pooled: Info
  mean: Float64Array
  variance: Float64Array
  /** 1/sqrt(variance + ε) as float32, like the reference's rsqrt. */
  inv: Float32Array
  gamma: Float32Array
}

const CONV_ATTRS = {strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined, activation: 'linear'}

/** conv → batch norm (batch statistics) → ReLU → max pool 2×2. */
function forwardBlock(heap: Heap, x: Info, kernel: Info, bias: Info, gamma: Info, beta: Info, epsilon: number): Block {
  const [kh, kw, inChannels, channels] = kernel.shape
  // One input channel: XNNPACK's convolution is slow at nine products per output; patches and a matrix product are faster.
  const patches = inChannels === 1 ? patchesOf(heap, x, kh, kw) : undefined
  const z = patches
    ? heap.reshape(
        heap.run('_FusedMatMul', {a: heap.reshape(patches, [1, ...patches.shape]), b: heap.reshape(kernel, [1, kh * kw, channels]), bias}, {transposeA: false, transposeB: false, activation: 'linear'}),
        [...x.shape.slice(0, 3), channels],
      )
    : heap.run('FusedConv2D', {x, filter: kernel, bias}, CONV_ATTRS)
  const mean = channelMeans(heap, z)
  const centered = affine(heap, z, new Float32Array(channels).fill(1), Float32Array.from(mean, (m) => -m))
  heap.freeData(z)
  const squares = heap.run('Square', {x: centered})
  const variance = channelMeans(heap, squares)
  heap.free(squares)

  const inv = Float32Array.from(variance, (v) => 1 / Math.sqrt(Math.fround(v + epsilon)))
  const gammaValues = Float32Array.from(heap.f32(gamma))
  const scale = Float32Array.from(inv, (s, c) => s * gammaValues[c])
  const activation = affine(heap, centered, scale, Float32Array.from(heap.f32(beta)), 'relu')
  const pooled = heap.run('MaxPool', {x: activation}, {filterSize: 2, strides: 2, pad: 'valid', dimRoundingMode: undefined})
  return {patches, centered, activation, pooled, mean, variance, inv, gamma: gammaValues}
}

/** Per-channel means over [B, H, W]: XNNPACK averages each image, JavaScript the B image means (in float64). */
function channelMeans(heap: Heap, x: Info): Float64Array {
  const [batch, height, width, channels] = x.shape
  const perImage = heap.run('AvgPool', {x}, {filterSize: [height, width], strides: 1, pad: 'valid', dimRoundingMode: undefined})
  const values = heap.f32(perImage)
  const means = new Float64Array(channels)
  for (let b = 0; b < batch; b++) for (let c = 0; c < channels; c++) means[c] += values[b * channels + c]
  for (let c = 0; c < channels; c++) means[c] /= batch
  heap.free(perImage)
  return means
}

/** x·scale[c] + offset[c] (then ReLU), as one 1×1 depthwise convolution. */
function affine(heap: Heap, x: Info, scale: ArrayLike<number>, offset: ArrayLike<number>, activation: 'linear' | 'relu' = 'linear'): Info {
  const channels = x.shape[3]
  const filter = heap.tensor([1, 1, channels, 1], scale)
  const bias = heap.tensor([channels], offset)
  const out = heap.run('FusedDepthwiseConv2D', {x, filter, bias}, {strides: 1, pad: 'valid', dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined, activation})
  heap.free(filter)
  heap.free(bias)
  return out
}

/**
 * Back through max pool, ReLU and batch norm: dPooled [B, ⌊H/2⌋, ⌊W/2⌋, C] →
 * dz [B, H, W, C], dγ, dβ. Each pooled gradient goes to the first maximum of
 * its window (row-major), as tfjs's MaxPoolGrad and PyTorch send it, and only
 * where the ReLU let the value through (the maximum is positive): that routing
 * is the one JavaScript loop, writing g into an otherwise zero tensor. Then
 * dz = γ/σ·(g − mean(g) − x̂·mean(g·x̂)), all XNNPACK passes.
 */
function backwardBlock(heap: Heap, block: Block, dPooled: Info): {dz: Info; dGamma: Float32Array; dBeta: Float32Array} {
  const [batch, height, width, channels] = block.activation.shape
  const routed = heap.tensor(block.activation.shape)
  routeToFirstMaximum(heap.f32(routed), heap.i32(block.activation), heap.i32(block.pooled), heap.f32(dPooled), batch, height, width, channels)

  const n = batch * height * width
  const sumG = channelMeans(heap, routed).map((m) => m * n)
  const products = heap.run('Multiply', {a: routed, b: block.centered})
  const sumGC = channelMeans(heap, products).map((m) => m * n)
  heap.free(products)

  const a = new Float32Array(channels)
  const scale = new Float32Array(channels)
  const offset = new Float32Array(channels)
  const dGamma = new Float32Array(channels)
  const dBeta = new Float32Array(channels)
  for (let c = 0; c < channels; c++) {
    const inv = block.inv[c]
    a[c] = block.gamma[c] * inv
    scale[c] = -a[c] * inv * inv * (sumGC[c] / n)
    offset[c] = -a[c] * (sumG[c] / n)
    dGamma[c] = sumGC[c] * inv
    dBeta[c] = sumG[c]
  }

  const sparse = affine(heap, routed, a, new Float32Array(channels))
  heap.free(routed)
  const dense = affine(heap, block.centered, scale, offset)
  const dz = heap.run('Add', {a: sparse, b: dense})
  heap.free(sparse)
  heap.free(dense)
  return {dz, dGamma, dBeta}
}

/**
 * out[first maximum of each 2×2 window of y] = dPooled where the window's
 * maximum is positive; out must be zero on entry. Branch-free: which of the
 * four positions comes first is summed from the comparisons.
 */
export function routeToFirstMaximum(out: Float32Array, y: Int32Array, pooled: Int32Array, dPooled: Float32Array, batch: number, height: number, width: number, channels: number): void {
  const outHeight = Math.floor(height / 2)
  const outWidth = Math.floor(width / 2)
  const row = width * channels
  const down = row - channels
  let k = 0
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < outHeight; i++) {
      let corner = (b * height + 2 * i) * row
      for (let j = 0; j < outWidth; j++, corner += 2 * channels) {
        for (let c = 0; c < channels; c++, k++) {
          // Float bit patterns: equal values have equal bits, except ±0, which only a zero maximum can meet and which routes nothing.
          const m = pooled[k]
          const q = corner + c
          const d0 = y[q] ^ m
          const right = (d0 | -d0) >>> 31
          const d1 = y[q + channels] ^ m
          const below = right & ((d1 | -d1) >>> 31)
          const d2 = y[q + row] ^ m
          const diagonal = below & ((d2 | -d2) >>> 31)
          const positive = (-m & ~m) >>> 31
          out[q + right * channels + below * down + diagonal * channels] = dPooled[k] * positive
        }
      }
    }
  }
}

/**
 * dW of a stride-1 'same' convolution with an odd kernel:
 * dW[a, b, c, o] = Σ x̃[n, i+a, j+b, c]·dz[n, i, j, o], x̃ being x zero-padded.
 * As XNNPACK matrix products; XNNPACK packs the right-hand matrix afresh for
 * every new tensor (~4.5 ns a number, more than the product itself here), so
 * each form keeps that operand small.
 */
function filterGradient(heap: Heap, x: Info, dz: Info, filterShape: number[], patches?: Info): Info {
  const [kh, kw] = filterShape
  if (kh % 2 === 0 || kw % 2 === 0) throw new Error(`filter gradient: odd kernel sizes only, got ${kh}×${kw}`)
  return patches ? filterGradientOneChannel(heap, patches, dz, kh, kw) : filterGradientShifted(heap, x, dz, kh, kw)
}

/** [B·H·W, kh·kw] patches of a one-channel image ('same' zero padding): a convolution with one-hot filters. */
function patchesOf(heap: Heap, x: Info, kh: number, kw: number): Info {
  const taps = kh * kw
  const oneHot = new Float32Array(taps * taps)
  for (let t = 0; t < taps; t++) oneHot[t * taps + t] = 1
  const filter = heap.tensor([kh, kw, 1, taps], oneHot)
  const patches = heap.run('Conv2D', {x, filter}, {strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined})
  heap.free(filter)
  return heap.keep(heap.release(patches, [x.shape[0] * x.shape[1] * x.shape[2], taps]))
}

/** One input channel: dz transposed ([O, N]) times the patches ([N, taps], the packed operand). */
function filterGradientOneChannel(heap: Heap, patches: Info, dz: Info, kh: number, kw: number): Info {
  const [n, taps] = patches.shape
  const outChannels = dz.shape[3]
  const dzT = heap.run('Transpose', {x: heap.reshape(dz, [n, outChannels])}, {perm: [1, 0]})
  const product = heap.run('BatchMatMul', {a: heap.reshape(dzT, [1, outChannels, n]), b: heap.reshape(patches, [1, n, taps])}, {transposeA: false, transposeB: false})
  heap.free(dzT)
  const values = heap.f32(product)
  const dW = new Float32Array(taps * outChannels)
  for (let o = 0; o < outChannels; o++) for (let t = 0; t < taps; t++) dW[t * outChannels + o] = values[o * taps + t]
  heap.free(product)
  return heap.tensor([kh, kw, 1, outChannels], dW)
}

/**
 * Several input channels: x on a zero-padded grid, NHWC ([K, C], the packed
 * operand, once for all taps), and dz on the same grid, channel-major; tap
 * (a, b) reads dz shifted back by a·row + b, a view, so each tap is one product
 * [O, K]·[K, C]. Consecutive images share their padding rows and consecutive
 * rows their padding columns; each dz channel plane is preceded by zeros so a
 * shifted read never reaches the previous plane's data.
 */
function filterGradientShifted(heap: Heap, x: Info, dz: Info, kh: number, kw: number): Info {
  const [batch, height, width, channels] = x.shape
  const outChannels = dz.shape[3]
  const top = (kh - 1) / 2
  const left = (kw - 1) / 2
  const gridHeight = height + top
  const gridWidth = width + left
  const k = batch * gridHeight * gridWidth
  const gap = (kh - 1) * gridWidth + kw - 1
  const plane = k + gap

  // The data rows are copied in; only padding, the shared rows and columns and the tails, is zeroed.
  const xGrid = heap.tensor([1, plane, channels], 'uninitialised')
  const dzGrid = heap.tensor([k, outChannels], 'uninitialised')
  {
    const xs = heap.f32(x)
    const dzs = heap.f32(dz)
    const xg = heap.f32(xGrid)
    const dg = heap.f32(dzGrid)
    const xRow = width * channels
    const dzRow = width * outChannels
    for (let b = 0; b < batch; b++) {
      for (let r = 0; r < gridHeight; r++) {
        const xAt = (b * gridHeight + r) * gridWidth * channels
        const dzAt = (b * gridHeight + r) * gridWidth * outChannels
        const i = r - top
        if (i >= 0) {
          xg.fill(0, xAt, xAt + left * channels)
          xg.set(xs.subarray((b * height + i) * xRow, (b * height + i + 1) * xRow), xAt + left * channels)
        } else {
          xg.fill(0, xAt, xAt + gridWidth * channels)
        }

        if (r < height) {
          dg.set(dzs.subarray((b * height + r) * dzRow, (b * height + r + 1) * dzRow), dzAt)
          dg.fill(0, dzAt + dzRow, dzAt + gridWidth * outChannels)
        } else {
          dg.fill(0, dzAt, dzAt + gridWidth * outChannels)
        }
      }
    }

    xg.fill(0, k * channels)
  }

  const dzT = heap.run('Transpose', {x: dzGrid}, {perm: [1, 0]})
  heap.free(dzGrid)
  const shifted = heap.tensor([gap + outChannels * plane], 'uninitialised')
  {
    const from = heap.f32(dzT)
    const to = heap.f32(shifted)
    for (let o = 0; o < outChannels; o++) {
      to.fill(0, o * plane, o * plane + gap)
      to.set(from.subarray(o * k, (o + 1) * k), gap + o * plane)
    }

    // The last plane's reads run past its end onto rows of x's zero tail: zeros, not leftover heap bytes (NaN × 0 is NaN).
    to.fill(0, outChannels * plane)
  }

  heap.free(dzT)
  const base = heap.backend.getMemoryOffset(shifted.dataId)
  const products: Info[] = []
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      const view = heap.alias(base + 4 * (gap - a * gridWidth - b), [1, outChannels, plane])
      try {
        products.push(heap.run('BatchMatMul', {a: view, b: xGrid}, {transposeA: false, transposeB: false}))
      } finally {
        heap.releaseAlias(view)
      }
    }
  }

  heap.free(xGrid)
  heap.free(shifted)
  const dW = new Float32Array(kh * kw * channels * outChannels)
  for (const [t, product] of products.entries()) {
    const values = heap.f32(product)
    for (let o = 0; o < outChannels; o++) for (let c = 0; c < channels; c++) dW[(t * channels + c) * outChannels + o] = values[o * channels + c]
    heap.free(product)
  }

  return heap.tensor([kh, kw, channels, outChannels], dW)
}

/** Per-channel sums of [B, H, W, C] (a conv bias's gradient). */
function channelSums(heap: Heap, x: Info): Float32Array {
  const [batch, height, width] = x.shape
  const means = channelMeans(heap, x)
  return Float32Array.from(means, (m) => m * batch * height * width)
}

function cnnGradientsKernel({inputs, backend, attrs}: KernelArgs): Info[] {
  const {x, labels, classWeights} = inputs as {x: Info; labels: Info; classWeights: Info}
  const p = inputs as unknown as Record<CnnParameter, Info>
  const {epsilon} = attrs as unknown as {epsilon: number}
  const heap = new Heap(backend)
  try {
    const batch = x.shape[0]
    const block1 = forwardBlock(heap, x, p['conv1.kernel'], p['conv1.bias'], p['bn1.gamma'], p['bn1.beta'], epsilon)
    const block2 = forwardBlock(heap, block1.pooled, p['conv2.kernel'], p['conv2.bias'], p['bn2.gamma'], p['bn2.beta'], epsilon)
    const features = block2.pooled.shape[1] * block2.pooled.shape[2] * block2.pooled.shape[3]
    const flat = heap.reshape(block2.pooled, [1, batch, features])
    const logits = heap.run('_FusedMatMul', {a: flat, b: heap.reshape(p['dense.kernel'], [1, features, p['dense.kernel'].shape[1]]), bias: p['dense.bias']}, {
      transposeA: false,
      transposeB: false,
      activation: 'linear',
    })

    // Loss, accuracy and dL/dlogits = (softmax − onehot)·w[y]/Σw, in float64.
    const classes = p['dense.kernel'].shape[1]
    const z = heap.f32(logits)
    const y = backend.typedArrayFromHeap(labels) as Int32Array
    const weights = heap.f32(classWeights)
    let weightSum = 0
    for (let b = 0; b < batch; b++) weightSum += weights[y[b]]
    const dLogits = new Float32Array(batch * classes)
    let loss = 0
    let correct = 0
    for (let b = 0; b < batch; b++) {
      const row = b * classes
      let best = 0
      for (let k = 1; k < classes; k++) if (z[row + k] > z[row + best]) best = k
      if (best === y[b]) correct += 1
      let total = 0
      for (let k = 0; k < classes; k++) total += Math.exp(z[row + k] - z[row + best])
      const logTotal = Math.log(total) + z[row + best]
      const share = weights[y[b]] / weightSum
      loss += share * (logTotal - z[row + y[b]])
      for (let k = 0; k < classes; k++) dLogits[row + k] = share * (Math.exp(z[row + k] - logTotal) - (k === y[b] ? 1 : 0))
    }

    // Dense layer: dW = flatᵀ·dLogits and dFlat = dLogits·Wᵀ, as XNNPACK products on transposed copies.
    const dLogitsInfo = heap.tensor([1, batch, classes], dLogits)
    const flatT = heap.run('Transpose', {x: heap.reshape(block2.pooled, [batch, features])}, {perm: [1, 0]})
    const dDenseKernel = heap.run('BatchMatMul', {a: heap.reshape(flatT, [1, features, batch]), b: dLogitsInfo}, {transposeA: false, transposeB: false})
    const denseT = heap.run('Transpose', {x: p['dense.kernel']}, {perm: [1, 0]})
    const dFlat = heap.run('BatchMatMul', {a: dLogitsInfo, b: heap.reshape(denseT, [1, classes, features])}, {transposeA: false, transposeB: false})
    const dDenseBias = new Float32Array(classes)
    for (let b = 0; b < batch; b++) for (let k = 0; k < classes; k++) dDenseBias[k] += dLogits[b * classes + k]

    const back2 = backwardBlock(heap, block2, heap.reshape(dFlat, block2.pooled.shape))
    // The input gradient of the second convolution only: the first one's input is the data. (Our registered kernel: a forward XNNPACK convolution.)
    const dPooled1 = heap.run('Conv2DBackpropInput', {dy: back2.dz, filter: p['conv2.kernel']}, {strides: 1, pad: 'same', dataFormat: 'NHWC', dimRoundingMode: undefined, inputShape: block1.pooled.shape})
    const dConv2Kernel = filterGradient(heap, block1.pooled, back2.dz, p['conv2.kernel'].shape, block2.patches)
    const dConv2Bias = channelSums(heap, back2.dz)
    const back1 = backwardBlock(heap, block1, dPooled1)
    const dConv1Kernel = filterGradient(heap, x, back1.dz, p['conv1.kernel'].shape, block1.patches)
    const dConv1Bias = channelSums(heap, back1.dz)

    const small = (values: ArrayLike<number>, shape = [values.length]): Info => heap.release(heap.tensor(shape, values))
    const correctInfo = backend.makeOutput([], 'int32')
    ;(backend.typedArrayFromHeap(correctInfo) as Int32Array)[0] = correct
    return [
      small([loss], []),
      correctInfo,
      heap.release(dConv1Kernel),
      small(dConv1Bias),
      small(back1.dGamma),
      small(back1.dBeta),
      heap.release(dConv2Kernel),
      small(dConv2Bias),
      small(back2.dGamma),
      small(back2.dBeta),
      heap.release(dDenseKernel, p['dense.kernel'].shape),
      small(dDenseBias),
      small(block1.mean),
      small(block1.variance),
      small(block2.mean),
      small(block2.variance),
    ]
  } finally {
    heap.freeAll()
  }
}

export const cnnGradientsConfig: tf.KernelConfig = {
  kernelName: CNN_GRADIENTS,
  backendName: 'wasm',
  kernelFunc: cnnGradientsKernel as unknown as tf.KernelFunc,
}
