/**
 * Model quality of training configurations on the real MNIST, over several
 * seeds: `npm run bench:quality`.
 *
 * Each configuration is a set of `train` flags. For every seed it trains end to
 * end (curate, split, train, calibrate, artifacts) and reports the best
 * checkpoint's macro-F1 on that seed's 1,000-image **evaluation** split, the
 * expected calibration error there before and after temperature scaling, the
 * epochs run and the best epoch, and the mean epoch time. Then mean and min per
 * configuration. Nothing here looks at the official test split.
 *
 *   npm run bench:quality -- [--seeds 11122025,1,2,3,4] [--threads 1] \
 *     [--config 'recipe=' --config 'augment=--augment' …]
 *
 * Each `--config` is `label=flags`; without any, the recipe and the
 * documented `--augment` configurations are measured.
 */
import {readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'
import {parseArgs} from 'node:util'

import {z} from 'zod'

import {EpochLogRowSchema} from '../src/artifacts/epoch-log.js'
import {DEFAULT_SEED} from '../src/config.js'
import {resolveTrainingConfig} from '../src/training/config.js'
import {runTraining} from '../src/training/run.js'
import {realMnist} from './mnist-data.js'

const {values: args} = parseArgs({
  options: {
    seeds: {type: 'string', default: `${DEFAULT_SEED},1,2,3,4`},
    threads: {type: 'string', default: '1'},
    config: {type: 'string', multiple: true},
  },
})

const DEFAULT_CONFIGS = ['recipe=', 'augment=--augment', 'augment-long=--augment --patience 8']

/** `--augment --patience 8` → {augment: true, patience: 8}; a flag without a value is a switch. */
function parseFlags(text: string): Record<string, string | number | boolean> {
  const words = text.split(/\s+/).filter(Boolean)
  const flags: Record<string, string | number | boolean> = {}
  for (let i = 0; i < words.length; i++) {
    if (!words[i].startsWith('--')) throw new Error(`expected a flag, got ${words[i]}`)
    const name = words[i].slice(2)
    const next = words[i + 1]
    if (next === undefined || next.startsWith('--')) {
      if (name.startsWith('no-')) flags[name.slice(3)] = false
      else flags[name] = true
    } else {
      flags[name] = Number.isNaN(Number(next)) ? next : Number(next)
      i++
    }
  }

  return flags
}

interface Row {
  f1: number
  eceBefore: number
  eceAfter: number
  epochs: number
  bestEpoch: number
  epochSeconds: number
}

const dataDir = await realMnist()
const out = join(import.meta.dirname, '.out', 'quality')
const seeds = args.seeds.split(',').map(Number)
const configs = (args.config ?? DEFAULT_CONFIGS).map((spec) => {
  const cut = spec.indexOf('=')
  if (cut < 0) throw new Error(`--config ${spec}: expected label=flags`)
  return {label: spec.slice(0, cut), flags: spec.slice(cut + 1)}
})
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length
const percent = (value: number) => `${(value * 100).toFixed(2)}%`

process.stdout.write(
  `threads ${args.threads}, seeds ${seeds.join(',')}, load average ${process.getBuiltinModule('node:os').loadavg()[0].toFixed(1)} at start\n`,
)
for (const {label, flags} of configs) {
  const rows: Row[] = []
  for (const seed of seeds) {
    const config = resolveTrainingConfig({flags: {...parseFlags(flags), seed, 'num-workers': Number(args.threads), 'run-name': `${label}-${seed}`}})
    const outputDir = join(out, label, `seed-${seed}`)
    rmSync(outputDir, {recursive: true, force: true})
    const sink = new PassThrough()
    sink.resume()
    const summary = await runTraining({config, dataDir, outputDir}, {progress: sink})
    const logs = z.array(EpochLogRowSchema).parse(JSON.parse(readFileSync(join(outputDir, 'logs', 'metrics.json'), 'utf8')))
    const epochSeconds = mean(logs.map((row) => row.epoch_seconds))
    const calibration = JSON.parse(readFileSync(join(outputDir, 'reliability.json'), 'utf8')) as {before: {ece: number}; after: {ece: number}}
    const row = {
      f1: summary.metrics.eval.f1Macro,
      eceBefore: calibration.before.ece,
      eceAfter: calibration.after.ece,
      epochs: summary.epochs,
      bestEpoch: summary.bestEpoch,
      epochSeconds,
    }
    rows.push(row)
    process.stdout.write(
      `${label} seed ${seed}: eval macro-F1 ${row.f1.toFixed(4)}, ECE ${percent(row.eceBefore)} → ${percent(row.eceAfter)}, ${row.epochs} epochs (best ${row.bestEpoch}), ${row.epochSeconds.toFixed(2)} s/epoch\n`,
    )
  }

  const f1 = rows.map((r) => r.f1)
  process.stdout.write(
    `== ${label} [${flags}]: eval macro-F1 mean ${mean(f1).toFixed(4)}, min ${Math.min(...f1).toFixed(4)}; ECE mean ${percent(mean(rows.map((r) => r.eceBefore)))} → ${percent(mean(rows.map((r) => r.eceAfter)))} (max after ${percent(Math.max(...rows.map((r) => r.eceAfter)))}); epochs ${rows.map((r) => `${r.epochs} (${r.bestEpoch})`).join(', ')}; ${mean(rows.map((r) => r.epochSeconds)).toFixed(2)} s/epoch\n`,
  )
}
