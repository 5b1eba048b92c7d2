/**
 * Photos of paper: telling them from images with a flat background, and
 * finding a digit's ink on them despite uneven light, ruled lines, shadows and
 * sensor noise.
 *
 * A photo is recognised by its paper: the light on it varies across the page
 * (a gradient, a shadow band), or it is ruled (thin lines that cross the whole
 * page). Canvas drawings, MNIST digits and plain scans have paper of one shade
 * and no such lines, so they are not photos and keep the plain recipe.
 *
 * All the work happens on a copy shrunk to WORK_SIDE pixels on its long side,
 * so a 4000×3000 photo costs little more than a 400×300 one.
 */
import type {GrayImage} from './decode.js'
import {resample} from './resample.js'

/** Smaller images (MNIST's 28×28 and the like) are never photos of paper. */
const MIN_SIDE = 64
/** The long side of the working copy: enough for a digit's strokes, bounded work for any photo. */
const WORK_SIDE = 400
/** Paper whose light varies by more than this (relative to its median, between its 2nd and 98th percentile) is lit unevenly. */
const UNEVEN_LIGHT = 0.12
/** A ruled line is this much darker than its paper (relative) at least, ... */
const RULE_CONTRAST = 0.1
/** ... runs on for this share of the page's width to count as ruling when telling a photo from a drawing, ... */
const RULE_SPAN = 0.85
/** ... and this share of the page (width for horizontal lines, height for vertical ones) to be taken out of a photo. */
const LINE_SPAN = 0.6
/**
 * Ink whose darkest point is less than this much darker than its paper (relative) is faint: pencil, or a
 * pen pressed lightly. The plain recipe's floor (a share of the strongest ink) would sit inside the paper's
 * noise, so such a photo takes this path even on even, unruled paper. Pen, marker and canvas strokes are
 * far darker (0.7 and more).
 */
const FAINT_INK = 0.55
/** Ink at least this much darker than its paper (relative), whatever the noise. */
const MIN_INK = 0.12
/** Ink at least this many noise deviations darker than its paper. */
const NOISE_SIGMAS = 6
/** A piece of ink smaller than this share of the page is a speck, not a stroke. */
const MIN_PIECE = 1 / 2500
/** Pieces this much smaller than the largest are dropped as well. */
const PIECE_RATIO = 0.08

/**
 * Separable running-sum box blur of `radius` pixels either side, in place:
 * O(pixels) whatever the radius; near the edges it averages what there is.
 */
export function boxBlur(image: Float32Array, width: number, height: number, radius: number): void {
  const pass = (count: number, length: number, at: (line: number, k: number) => number) => {
    const line = new Float32Array(length)
    for (let i = 0; i < count; i++) {
      for (let k = 0; k < length; k++) line[k] = image[at(i, k)]
      let sum = 0
      let n = 0
      for (let k = 0; k < Math.min(radius, length); k++) {
        sum += line[k]
        n++
      }

      for (let k = 0; k < length; k++) {
        if (k + radius < length) {
          sum += line[k + radius]
          n++
        }

        if (k - radius - 1 >= 0) {
          sum -= line[k - radius - 1]
          n--
        }

        image[at(i, k)] = sum / n
      }
    }
  }

  pass(height, width, (row, col) => row * width + col)
  pass(width, height, (col, row) => row * width + col)
}

/**
 * Running maximum (or minimum) over `radius` steps either side along one line of the image, the `n` pixels
 * `cells` names in order, in place: a monotonic deque, O(n). `values` and `deque` are scratch of at least n.
 */
function slideLine(image: Float32Array, cells: Int32Array, n: number, radius: number, max: boolean, values: Float32Array, deque: Int32Array): void {
  for (let k = 0; k < n; k++) values[k] = image[cells[k]]
  let head = 0
  let tail = 0
  let next = 0
  for (let k = 0; k < n; k++) {
    for (; next < n && next <= k + radius; next++) {
      const v = values[next]
      while (tail > head && (max ? v >= values[deque[tail - 1]] : v <= values[deque[tail - 1]])) tail--
      deque[tail++] = next
    }

    while (deque[head] < k - radius) head++
    image[cells[k]] = values[deque[head]]
  }
}

/** Running maximum (or minimum) over `radius` either side along the rows (or columns), in place. */
function slide(image: Float32Array, width: number, height: number, radius: number, horizontal: boolean, max: boolean): void {
  const count = horizontal ? height : width
  const length = horizontal ? width : height
  const values = new Float32Array(length)
  const deque = new Int32Array(length)
  const cells = new Int32Array(length)
  for (let line = 0; line < count; line++) {
    for (let k = 0; k < length; k++) cells[k] = horizontal ? line * width + k : k * width + line
    slideLine(image, cells, length, radius, max, values, deque)
  }
}

/** Running maximum (or minimum) over `radius` steps either side along the diagonals (or the anti-diagonals), in place. */
function slideDiagonal(image: Float32Array, width: number, height: number, radius: number, anti: boolean, max: boolean): void {
  const length = Math.min(width, height)
  const values = new Float32Array(length)
  const deque = new Int32Array(length)
  const cells = new Int32Array(length)
  // Each diagonal starts on the top row or on the side it leaves from (left for diagonals, right for anti-diagonals).
  for (let start = 0; start < width + height - 1; start++) {
    let x = start < width ? start : anti ? width - 1 : 0
    let y = start < width ? 0 : start - width + 1
    let n = 0
    while (x >= 0 && x < width && y < height) {
      cells[n++] = y * width + x
      x += anti ? -1 : 1
      y++
    }

    slideLine(image, cells, n, radius, max, values, deque)
  }
}

/**
 * Grey closing (maximum, then minimum) over a regular octagon `radius` pixels
 * from its centre to each side: a round window, built from running extremes
 * along rows, columns and both diagonals. Unlike a square it bridges a stroke
 * as well in any direction and leaves a slanted shadow band as wide as an
 * upright one.
 */
function closing(image: Float32Array, width: number, height: number, radius: number): Float32Array {
  const out = Float32Array.from(image)
  // A regular octagon of inradius r is the sum of segments: rows and columns r·(√2 − 1) either side, diagonals r·(1 − 1/√2) steps.
  const straight = Math.max(1, Math.round(radius * (Math.SQRT2 - 1)))
  const diagonal = Math.max(1, Math.round(radius * (1 - Math.SQRT1_2)))
  for (const max of [true, false]) {
    slide(out, width, height, straight, true, max)
    slide(out, width, height, straight, false, max)
    slideDiagonal(out, width, height, diagonal, false, max)
    slideDiagonal(out, width, height, diagonal, true, max)
  }

  return out
}

/**
 * The image with every dip the page's edge does not reach raised to the lowest rim around it (priority flood
 * from the edge, 4-neighbours). Where a felt marker's blob is wider than the closing's window, the closing
 * sinks into it and the blob's own ink reads as dim paper; light, however uneven, reaches the page's edge.
 */
function fillEnclosed(image: Float32Array, width: number, height: number): Float32Array {
  const filled = Float32Array.from(image)
  const seen = new Uint8Array(filled.length)
  // A binary min-heap of pixel indices, keyed by their filled level.
  const heap = new Int32Array(filled.length)
  let size = 0
  const push = (i: number) => {
    seen[i] = 1
    let k = size++
    while (k > 0) {
      const parent = (k - 1) >> 1
      if (filled[heap[parent]] <= filled[i]) break
      heap[k] = heap[parent]
      k = parent
    }

    heap[k] = i
  }

  const pop = () => {
    const top = heap[0]
    const last = heap[--size]
    let k = 0
    for (;;) {
      let child = 2 * k + 1
      if (child >= size) break
      if (child + 1 < size && filled[heap[child + 1]] < filled[heap[child]]) child++
      if (filled[heap[child]] >= filled[last]) break
      heap[k] = heap[child]
      k = child
    }

    heap[k] = last
    return top
  }

  for (let x = 0; x < width; x++) {
    push(x)
    if (height > 1) push((height - 1) * width + x)
  }

  for (let y = 1; y < height - 1; y++) {
    push(y * width)
    if (width > 1) push(y * width + width - 1)
  }

  const visit = (j: number, level: number) => {
    if (seen[j]) return
    filled[j] = Math.max(filled[j], level)
    push(j)
  }

  while (size > 0) {
    const i = pop()
    const x = i % width
    if (x > 0) visit(i - 1, filled[i])
    if (x < width - 1) visit(i + 1, filled[i])
    if (i >= width) visit(i - width, filled[i])
    if (i + width < filled.length) visit(i + width, filled[i])
  }

  return filled
}

/** Thin long lines along rows (or columns) of an ink map: what survives an opening `span` pixels long, allowing a slight slope. */
function longLines(ink: Float32Array, width: number, height: number, span: number, horizontal: boolean): Float32Array {
  const lines = Float32Array.from(ink)
  // Thickened across first, so a line sloping by a degree or so stays one unbroken run.
  slide(lines, width, height, 2, !horizontal, true)
  const radius = Math.max(1, Math.floor(span / 2))
  slide(lines, width, height, radius, horizontal, false)
  slide(lines, width, height, radius, horizontal, true)
  for (let i = 0; i < lines.length; i++) lines[i] = Math.min(lines[i], ink[i])
  return lines
}

/** The q-quantile of every `step`-th value. */
function quantiles(values: Float32Array, qs: number[], step = 1): number[] {
  const sample = new Float32Array(Math.ceil(values.length / step))
  for (let i = 0, k = 0; i < values.length; i += step) sample[k++] = values[i]
  sample.sort()
  return qs.map((q) => sample[Math.min(sample.length - 1, Math.floor(q * sample.length))])
}

/** How many separate bands of rows hold a line. */
function lineBands(lines: Float32Array, width: number, height: number): number {
  let bands = 0
  let inside = false
  for (let y = 0; y < height; y++) {
    let strongest = 0
    for (let x = 0; x < width; x++) strongest = Math.max(strongest, lines[y * width + x])
    const line = strongest >= RULE_CONTRAST
    if (line && !inside) bands++
    inside = line
  }

  return bands
}

/** A photo's ink, on the working copy: 0 for paper, up to 1 for the strongest stroke; undefined when no stroke is left. */
export interface PaperInk {
  width: number
  height: number
  ink: Float32Array | undefined
}

/**
 * The digit's ink on a photo of paper, or undefined when the image is not one
 * (its paper is one shade and unruled and its ink dark: take the plain recipe). `paper` is the
 * shade of the image's outer frame; paper darker than 0.5 means light ink.
 *
 * The paper's own brightness is estimated by a grey closing wider than any
 * stroke (it follows gradients and shadow edges, not strokes), with the dips
 * that do not reach the page's edge filled (a marker's blob wider than the
 * closing), and divided out;
 * lines that run on across most of the page are taken out; what is left must
 * stand clear of the sensor noise and form pieces larger than specks that do
 * not touch the page's edge. Faint ink (pencil) takes this path on any paper.
 */
export function paperInk(image: GrayImage, paper: number): PaperInk | undefined {
  const {width: fullWidth, height: fullHeight} = image
  if (Math.min(fullWidth, fullHeight) < MIN_SIDE) return undefined
  const shrink = Math.min(1, WORK_SIDE / Math.max(fullWidth, fullHeight))
  const w = Math.max(1, Math.round(fullWidth * shrink))
  const h = Math.max(1, Math.round(fullHeight * shrink))
  const data = shrink < 1 ? resample(image.data, fullWidth, {left: 0, top: 0, width: fullWidth, height: fullHeight}, w, h) : Float32Array.from(image.data)
  // Dark ink on light paper, whatever the input's polarity; a little blur so single noisy pixels do not count.
  if (paper < 0.5) for (let i = 0; i < data.length; i++) data[i] = 1 - data[i]
  boxBlur(data, w, h, 1)
  const background = fillEnclosed(closing(data, w, h, Math.max(2, Math.round(Math.min(w, h) / 10))), w, h)
  const dark = new Float32Array(w * h)
  for (let i = 0; i < dark.length; i++) dark[i] = Math.max(0, (background[i] - data[i]) / Math.max(background[i], 0.05))

  const [low, middle, high] = quantiles(background, [0.02, 0.5, 0.98], 7)
  const uneven = (high - low) / Math.max(middle, 0.05) > UNEVEN_LIGHT
  const rows = longLines(dark, w, h, LINE_SPAN * w, true)
  const ruled = lineBands(longLines(rows, w, h, RULE_SPAN * w, true), w, h) >= 2
  let darkest = 0
  for (const v of dark) darkest = Math.max(darkest, v)
  if (!uneven && !ruled && darkest >= FAINT_INK) return undefined

  const columns = longLines(dark, w, h, LINE_SPAN * h, false)
  const ink = new Float32Array(w * h)
  for (let i = 0; i < ink.length; i++) ink[i] = Math.max(0, dark[i] - Math.max(rows[i], columns[i]))
  // The paper's noise: how far plain paper strays, from the spread of the (mostly paper) ink map.
  const [q25, q50, q75] = quantiles(ink, [0.25, 0.5, 0.75], 3)
  const sigma = Math.max(q75 - q25, 2 * (q50 - q25)) / 1.349
  const floor = Math.max(MIN_INK, q50 + NOISE_SIGMAS * sigma)

  // Connected pieces (8-neighbours) of the pixels above the floor.
  const label = new Int32Array(w * h).fill(-1)
  const sizes: number[] = []
  const stack = new Int32Array(w * h)
  for (let start = 0; start < ink.length; start++) {
    if (ink[start] < floor || label[start] !== -1) continue
    const id = sizes.length
    let size = 0
    let edge = false
    let top = 0
    stack[top++] = start
    label[start] = id
    while (top > 0) {
      const i = stack[--top]
      size++
      const x = i % w
      const y = (i - x) / w
      if (x === 0 || y === 0 || x === w - 1 || y === h - 1) edge = true
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx
          const yy = y + dy
          if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue
          const j = yy * w + xx
          if (label[j] === -1 && ink[j] >= floor) {
            label[j] = id
            stack[top++] = j
          }
        }
      }
    }

    // A piece that touches the page's edge is where a shadow's edge meets it at a slant (the closing bridges
    // the narrow dark wedge there), or the table beyond the page: not a digit written on it.
    sizes.push(edge ? 0 : size)
  }

  const largest = sizes.reduce((a, b) => Math.max(a, b), 0)
  if (largest < Math.max(12, w * h * MIN_PIECE)) return {width: w, height: h, ink: undefined}
  const keep = (i: number) => label[i] !== -1 && sizes[label[i]] >= largest * PIECE_RATIO
  let strongest = 0
  for (let i = 0; i < ink.length; i++) if (keep(i)) strongest = Math.max(strongest, ink[i])
  const out = new Float32Array(w * h)
  for (let i = 0; i < ink.length; i++) if (keep(i)) out[i] = ink[i] / strongest
  return {width: w, height: h, ink: out}
}
