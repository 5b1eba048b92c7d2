/** Resampling a box of a grayscale image to another size: area average when shrinking, linear when enlarging. */

/** Source pixels and weights that make up each destination pixel along one axis. */
interface AxisWeights {
  index: Int32Array[]
  weight: Float32Array[]
}

/**
 * Shrinking averages the covered source area (so a thin stroke on a large canvas
 * fades but survives); enlarging interpolates linearly.
 */
function axisWeights(sourceLength: number, targetLength: number): AxisWeights {
  const index: Int32Array[] = []
  const weight: Float32Array[] = []
  const scale = targetLength / sourceLength
  for (let d = 0; d < targetLength; d++) {
    if (scale < 1) {
      const start = d / scale
      const end = (d + 1) / scale
      const first = Math.floor(start)
      const last = Math.min(sourceLength, Math.ceil(end))
      const ids = new Int32Array(last - first)
      const ws = new Float32Array(last - first)
      for (let s = first; s < last; s++) {
        ids[s - first] = s
        ws[s - first] = (Math.min(end, s + 1) - Math.max(start, s)) * scale
      }

      index.push(ids)
      weight.push(ws)
    } else {
      const centre = Math.min(Math.max((d + 0.5) / scale - 0.5, 0), sourceLength - 1)
      const low = Math.floor(centre)
      const high = Math.min(low + 1, sourceLength - 1)
      const fraction = centre - low
      index.push(Int32Array.of(low, high))
      weight.push(Float32Array.of(1 - fraction, fraction))
    }
  }

  return {index, weight}
}

/**
 * Resample the box (left, top, width × height) of a row-major image `stride`
 * pixels wide to targetWidth × targetHeight: rows first, then columns.
 */
export function resample(
  source: Float32Array,
  stride: number,
  box: {left: number; top: number; width: number; height: number},
  targetWidth: number,
  targetHeight: number,
): Float32Array {
  const columns = axisWeights(box.width, targetWidth)
  const rows = axisWeights(box.height, targetHeight)
  const across = new Float32Array(box.height * targetWidth)
  for (let y = 0; y < box.height; y++) {
    const row = (box.top + y) * stride + box.left
    for (let x = 0; x < targetWidth; x++) {
      const ids = columns.index[x]
      const ws = columns.weight[x]
      let sum = 0
      for (let k = 0; k < ids.length; k++) sum += ws[k] * source[row + ids[k]]
      across[y * targetWidth + x] = sum
    }
  }

  const out = new Float32Array(targetWidth * targetHeight)
  for (let y = 0; y < targetHeight; y++) {
    const ids = rows.index[y]
    const ws = rows.weight[y]
    for (let x = 0; x < targetWidth; x++) {
      let sum = 0
      for (let k = 0; k < ids.length; k++) sum += ws[k] * across[ids[k] * targetWidth + x]
      out[y * targetWidth + x] = sum
    }
  }

  return out
}
