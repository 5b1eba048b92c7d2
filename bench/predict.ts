/**
 * Prediction start-up benchmark: `npm run bench:predict`.
 *
 * What a user waits for: `digit-classification predict --checkpoint-path …
 * --input-path sample.png` from a cold process to the JSON line, run N times
 * as a fresh process (the built binary, `npm run build` first). Prints the
 * median and minimum wall time and the peak resident memory, against the bar
 * (≤ 0.4 s median, ≤ 150 MiB). When /usr/bin/python3 has torch and PIL
 * (Debian: python3-torch, python3-pil), the same CNN with the same weights
 * predicts the same image in PyTorch (bench/pytorch_predict.py), timed the same
 * way, and the ratios ours/PyTorch are printed.
 *
 * The checkpoint is bench/.out/run/best.ckpt when `npm run bench:train` made
 * one, else a short run trained here on fixtures/mnist.
 *
 *   npm run bench:predict -- [--runs 15] [--no-torch]
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {loadavg} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'

import {loadCheckpoint} from '../src/model/checkpoint.js'
import {BENCH_OUT, benchCheckpoint} from './checkpoint.js'
import {median, torchPython, torchVersion} from './common.js'

const {values: args} = parseArgs({
  options: {
    runs: {type: 'string', default: '15'},
    'no-torch': {type: 'boolean', default: false},
  },
})

/** The bar for one prediction of sample.png on a 2-core machine. */
const BAR = {seconds: 0.4, mebibytes: 150}
const TIME = '/usr/bin/time'
const runs = Number(args.runs)
const root = join(import.meta.dirname, '..')
const out = BENCH_OUT
const bin = join(root, 'bin', 'run.js')
const sample = join(root, 'sample.png')

if (!existsSync(join(root, 'dist', 'commands', 'predict.js'))) {
  process.stderr.write('the CLI is not built: run `npm run build` first\n')
  process.exit(1)
}

const checkpoint = await benchCheckpoint()

interface Measure {
  seconds: number
  /** Peak resident set size, MiB. */
  mebibytes: number
  stdout: string
}

/**
 * One fresh process: wall time from spawn to exit, peak RSS from GNU time's %M
 * when installed (Debian: time), else from the child's own resourceUsage.
 */
function measure(command: string, commandArgs: string[]): Measure {
  const rssFile = join(out, 'predict', 'rss.txt')
  const useTime = existsSync(TIME)
  const [file, argv] = useTime
    ? [TIME, ['-f', '%M', '-o', rssFile, command, ...commandArgs]]
    : [command, command === process.execPath ? ['--import', rssReporter(rssFile), ...commandArgs] : commandArgs]
  const started = performance.now()
  const result = spawnSync(file, argv, {encoding: 'utf8'})
  const seconds = (performance.now() - started) / 1000
  if (result.status !== 0) throw new Error(`${command} ${commandArgs.join(' ')} failed: ${result.stderr.slice(-2000)}`)
  const kib = existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) : Number.NaN
  return {seconds, mebibytes: kib / 1024, stdout: result.stdout.trim()}
}

/** An ESM preload that writes the process's peak RSS (KiB) to `file` as it exits. */
function rssReporter(file: string): string {
  const source = `import {writeFileSync} from 'node:fs'; process.on('exit', () => writeFileSync(${JSON.stringify(file)}, String(process.resourceUsage().maxRSS)))`
  return `data:text/javascript,${encodeURIComponent(source)}`
}

interface Series {
  median: number
  min: number
  peakMedian: number
  peakMax: number
  stdout: string
}

function series(command: string, commandArgs: string[]): Series {
  measure(command, commandArgs) // warm the file cache
  const measures = Array.from({length: runs}, () => measure(command, commandArgs))
  const seconds = measures.map((m) => m.seconds)
  const peaks = measures.map((m) => m.mebibytes)
  return {median: median(seconds), min: Math.min(...seconds), peakMedian: median(peaks), peakMax: Math.max(...peaks), stdout: measures[0].stdout}
}

const format = (s: Series) =>
  `median ${s.median.toFixed(3)} s, min ${s.min.toFixed(3)} s, peak RSS median ${s.peakMedian.toFixed(1)} MiB (max ${s.peakMax.toFixed(1)})`

const node = series(process.execPath, ['-e', '0'])
const ours = series(process.execPath, [bin, 'predict', '--checkpoint-path', checkpoint, '--input-path', sample])
const manifest = existsSync(join(root, 'oclif.manifest.json')) ? 'with oclif.manifest.json' : 'no oclif.manifest.json'
const meets = ours.median <= BAR.seconds && ours.peakMax <= BAR.mebibytes
const lines = [
  `machine: load average ${loadavg()[0].toFixed(2)} at start; ${runs} runs each after one warm-up; wall time from spawn to exit${existsSync(TIME) ? ', RSS from /usr/bin/time %M' : ''}`,
  `checkpoint: ${checkpoint}`,
  `node -e 0 (start-up floor): ${format(node)}`,
  `ours predict sample.png (${manifest}): ${format(ours)}`,
  `  output: ${ours.stdout}`,
  `  bar (median ≤ ${BAR.seconds} s, peak ≤ ${BAR.mebibytes} MiB): ${meets ? 'met' : 'missed'}`,
]

const python = args['no-torch'] ? undefined : torchPython('torch, PIL')
if (python) {
  const weightsDir = await writeTorchWeights(checkpoint)
  if (weightsDir) {
    const script = join(import.meta.dirname, 'pytorch_predict.py')
    const torch = series(python, [script, weightsDir, sample])
    const version = torchVersion(python)
    // Same weights, same pixels (sample.png is already 28×28 white on black, so a plain resize is the identity).
    const plain = measure(process.execPath, [bin, 'predict', '--checkpoint-path', checkpoint, '--input-path', sample, '--no-preprocess'])
    lines.push(
      `pytorch ${version} predict sample.png: ${format(torch)}`,
      `  output: ${torch.stdout}`,
      `  agreement: largest probability difference vs ours --no-preprocess ${largestDifference(plain.stdout, torch.stdout).toExponential(1)} (ours prints 4 significant digits)`,
      `ratio ours/pytorch: median time ${(ours.median / torch.median).toFixed(2)}×, peak RSS ${(ours.peakMedian / torch.peakMedian).toFixed(2)}×`,
    )
  } else {
    lines.push('pytorch: not measured (the checkpoint holds the softmax baseline, not the CNN)')
  }
} else if (args['no-torch']) {
  lines.push('pytorch: not measured (--no-torch)')
} else {
  lines.push('pytorch: not measured (/usr/bin/python3 with torch and PIL not found; Debian: apt-get install python3-torch python3-pil)')
}

process.stdout.write(`${lines.join('\n')}\n`)

/** Our tensors as raw float32 files plus their shapes and the normalisation: what pytorch_predict.py reads. */
async function writeTorchWeights(file: string): Promise<string | undefined> {
  const {header, values} = await loadCheckpoint(file)
  if (header.model !== 'cnn') return undefined
  const dir = join(out, 'predict', 'torch')
  mkdirSync(dir, {recursive: true})
  for (const {name} of header.tensors)
    writeFileSync(join(dir, `${name}.f32`), Buffer.from(values[name].buffer, values[name].byteOffset, values[name].byteLength))
  const tensors = Object.fromEntries(header.tensors.map(({name, shape}) => [name, shape]))
  writeFileSync(join(dir, 'meta.json'), JSON.stringify({mean: header.normalization.mean, std: header.normalization.std, classes: header.classes, tensors}))
  return dir
}

function largestDifference(a: string, b: string): number {
  const pa = (JSON.parse(a) as {probs: Record<string, number>}).probs
  const pb = (JSON.parse(b) as {probs: Record<string, number>}).probs
  return Math.max(...Object.keys(pa).map((label) => Math.abs(pa[label] - pb[label])))
}
