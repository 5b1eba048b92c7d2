/**
 * Photos of paper: `npm run bench:photos`.
 *
 * Real handwritten digits from MNIST's official test set (t10k, never trained
 * on) rendered as phone photos of paper (bench/photo-scenes.ts), JPEG, under
 * each condition: clean paper (the control), an uneven light gradient with
 * sensor noise, ruled paper, a shadow band, all three together, camera blur,
 * light grey pencil, a tilted page (rotation and perspective), a thick marker.
 * Then photos with no digit at all: blank paper, sensor noise only, ruled lines
 * only, a shadow only.
 *
 * Every image goes through the real `predict` command (the built CLI, one
 * process for the whole folder). Prints the accuracy per condition (the answer's prediction is the digit)
 * and the share answered known (the open-set threshold keeps 95% of the
 * validation split's own digits), and per
 * empty scene how many came back as "no digit" (refused with that reason, or
 * `known: false`). The images stay in the output folder to look at.
 *
 *   npm run bench:photos -- [--checkpoint-path best.ckpt] [--data-dir DIR] [--per-class 20] [--seed 23] [--out DIR]
 *
 * Without --checkpoint-path, the SPEC recipe is trained here for 3 epochs on
 * the real MNIST of --data-dir, into a temporary folder.
 */
import {execFile} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'
import {parseArgs} from 'node:util'

import {DEFAULT_CLASSES, type ClassLabel, PIXELS} from '../src/config.js'
import {readIdxPair} from '../src/data/idx.js'
import {Rng} from '../src/data/rng.js'
import {resolveTrainingConfig} from '../src/training/config.js'
import {runTraining} from '../src/training/run.js'
import {BENCH_OUT} from './checkpoint.js'
import {MNIST_DIR, realMnist} from './mnist-data.js'
import {EMPTY_SCENES, PHOTO_CONDITIONS, makePhoto} from './photo-scenes.js'

const {values: args} = parseArgs({
  options: {
    'checkpoint-path': {type: 'string'},
    'data-dir': {type: 'string', default: MNIST_DIR},
    'per-class': {type: 'string', default: '20'},
    seed: {type: 'string', default: '23'},
    out: {type: 'string', default: join(BENCH_OUT, 'photos')},
  },
})

/** The bar on every condition. */
const BAR = 0.95
const MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']
const root = join(import.meta.dirname, '..')
const cli = join(root, 'bin', 'run.js')
if (!existsSync(join(root, 'dist', 'commands', 'predict.js')))
  throw new Error('dist/ is missing: run npm run build first (the bench runs the built predict command)')

const perClass = Number(args['per-class'])
const seed = Number(args.seed)
const dataDir = await realMnist(args['data-dir'])

/** The SPEC recipe, shortened to 3 epochs, trained on a link farm of the data (training may write next to its data). */
async function trainQuickly(): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), 'bench-photos-'))
  const data = join(work, 'data')
  mkdirSync(data)
  for (const file of MNIST_FILES) {
    const source = [join(dataDir, file), join(dataDir, `${file}.gz`)].find((path) => existsSync(path))
    if (source) symlinkSync(source, join(data, source.endsWith('.gz') ? `${file}.gz` : file))
  }

  process.stderr.write(`no --checkpoint-path: training the SPEC recipe for 3 epochs into ${work}\n`)
  const config = resolveTrainingConfig({flags: {epochs: 3, backend: 'wasm', 'num-workers': 2, 'run-name': 'bench-photos'}})
  const sink = new PassThrough()
  sink.resume()
  await runTraining({config, dataDir: data, outputDir: join(work, 'run')}, {progress: sink})
  return join(work, 'run', 'best.ckpt')
}

const checkpoint = args['checkpoint-path'] ?? (await trainQuickly())

// The first digits of each class in a seeded order of t10k.
const t10k = await readIdxPair(
  [join(dataDir, 't10k-images-idx3-ubyte'), join(dataDir, 't10k-images-idx3-ubyte.gz')].find((path) => existsSync(path)) ??
    join(dataDir, 't10k-images-idx3-ubyte'),
  [join(dataDir, 't10k-labels-idx1-ubyte'), join(dataDir, 't10k-labels-idx1-ubyte.gz')].find((path) => existsSync(path)) ??
    join(dataDir, 't10k-labels-idx1-ubyte'),
)
const order = Array.from({length: t10k.labels.length}, (_, i) => i)
const shuffle = new Rng(seed)
for (let i = order.length - 1; i > 0; i--) {
  const j = shuffle.int(i + 1)
  ;[order[i], order[j]] = [order[j], order[i]]
}

const digits: Array<{label: ClassLabel; index: number; pixels: Float32Array}> = []
for (const label of DEFAULT_CLASSES) {
  for (const index of order.filter((i) => t10k.labels[i] === label).slice(0, perClass)) {
    digits.push({label, index, pixels: Float32Array.from(t10k.images.pixels.subarray(index * PIXELS, (index + 1) * PIXELS), (v) => v / 255)})
  }
}

const images = join(args.out, 'images')
rmSync(images, {recursive: true, force: true})
mkdirSync(images, {recursive: true})
const truth = new Map<string, {condition: string; label: ClassLabel | undefined}>()
const started = performance.now()
for (const [c, condition] of PHOTO_CONDITIONS.entries()) {
  const rng = new Rng(seed * 1000 + c)
  for (const digit of digits) {
    const name = `${condition.replace(' ', '-')}_${digit.label}_t10k-${digit.index}.jpg`
    writeFileSync(join(images, name), await makePhoto(condition, digit.pixels, rng))
    truth.set(name, {condition, label: digit.label})
  }
}

for (const [c, scene] of EMPTY_SCENES.entries()) {
  const rng = new Rng(seed * 1000 + 500 + c)
  for (let i = 0; i < perClass; i++) {
    const name = `empty-${scene.replace(' ', '-')}_${i}.jpg`
    writeFileSync(join(images, name), await makePhoto(scene, undefined, rng))
    truth.set(name, {condition: scene, label: undefined})
  }
}

const rendered = (performance.now() - started) / 1000
process.stderr.write(`${truth.size} images rendered in ${rendered.toFixed(1)} s into ${images}; predicting with ${checkpoint}\n`)

// The real command; it exits 1 when some inputs were refused, which is expected for the empty scenes.
const {stdout, stderr} = await new Promise<{stdout: string; stderr: string}>((resolve, reject) => {
  execFile(process.execPath, [cli, 'predict', '--checkpoint-path', checkpoint, '--input-path', images], {maxBuffer: 64 * 1024 * 1024}, (error, out, err) => {
    if (error && error.code !== 1) reject(new Error(`predict failed: ${err}`))
    else resolve({stdout: out, stderr: err})
  })
})
const answers = new Map<string, {prediction?: number; known?: boolean; noDigit: boolean; error?: string}>()
for (const line of stdout.split('\n').filter(Boolean)) {
  const row = JSON.parse(line) as {path: string; prediction: number; known?: boolean; reason?: string}
  answers.set(row.path.split('/').pop() ?? row.path, {prediction: row.prediction, known: row.known, noDigit: row.known === false && row.reason === 'no digit'})
}

for (const line of stderr.split('\n')) {
  const match = /^Error: (?:.*\/)?([^/:]+\.jpg): (.*)$/.exec(line)
  if (match) answers.set(match[1], {noDigit: /no digit found/.test(match[2]), error: match[2]})
}

const lines = [
  `model: ${checkpoint}`,
  `digits: t10k, ${perClass} of each of ${DEFAULT_CLASSES.join(', ')} (seed ${seed}); photos 480–720 px wide, JPEG q75–92`,
  "accuracy: the answer's prediction is the digit; known: answered known (the open-set threshold keeps 95% of the validation split's own digits)",
  `${'condition'.padEnd(14)}${'images'.padStart(7)}${'correct'.padStart(9)}${'accuracy'.padStart(10)}${'known'.padStart(8)}${'no digit'.padStart(10)}${'errors'.padStart(8)}`,
]
let worst = 1
let correctAll = 0
let countAll = 0
for (const condition of PHOTO_CONDITIONS) {
  const names = [...truth].filter(([, t]) => t.condition === condition)
  let correct = 0
  let known = 0
  let noDigit = 0
  let errors = 0
  for (const [name, t] of names) {
    const answer = answers.get(name)
    if (answer?.prediction === t.label) correct++
    if (answer?.prediction !== undefined && answer.known !== false) known++
    if (answer?.noDigit) noDigit++
    else if (answer?.error) errors++
  }

  const accuracy = correct / names.length
  worst = Math.min(worst, accuracy)
  correctAll += correct
  countAll += names.length
  lines.push(
    `${condition.padEnd(14)}${String(names.length).padStart(7)}${String(correct).padStart(9)}${accuracy.toFixed(3).padStart(10)}${(known / names.length).toFixed(3).padStart(8)}${String(noDigit).padStart(10)}${String(errors).padStart(8)}`,
  )
}

lines.push(`${'all photos'.padEnd(14)}${String(countAll).padStart(7)}${String(correctAll).padStart(9)}${(correctAll / countAll).toFixed(3).padStart(10)}`)
lines.push('', `${'empty scene'.padEnd(14)}${'images'.padStart(7)}${'no digit'.padStart(10)}${'a digit'.padStart(9)}`)
let emptyMissed = 0
for (const scene of EMPTY_SCENES) {
  const names = [...truth].filter(([, t]) => t.condition === scene)
  const noDigit = names.filter(([name]) => answers.get(name)?.noDigit).length
  const digit = names.filter(([name]) => answers.get(name)?.prediction !== undefined && answers.get(name)?.known !== false).length
  emptyMissed += names.length - noDigit
  lines.push(`${scene.padEnd(14)}${String(names.length).padStart(7)}${String(noDigit).padStart(10)}${String(digit).padStart(9)}`)
}

lines.push(
  '',
  `bar (every condition ≥ ${BAR}, every empty scene "no digit"): ${worst >= BAR && emptyMissed === 0 ? 'met' : 'missed'} (worst condition ${worst.toFixed(3)}, empty scenes not called "no digit": ${emptyMissed})`,
)
process.stdout.write(`${lines.join('\n')}\n`)
