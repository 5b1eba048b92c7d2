import {expect} from 'chai'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'

import {DEFAULT_KNOWN_SCORE, KNOWN_RATE, fitKnownThreshold, knownScores} from '../../src/evaluation/openset.js'
import {loadCheckpoint} from '../../src/model/checkpoint.js'
import {networkOf} from '../../src/model/network.js'
import {resolveTrainingConfig} from '../../src/training/config.js'
import {type PreparedData, prepareData} from '../../src/training/data.js'
import {type BestModel, type FitEnd, type FitEndCallback, OpenSetDecision, TemperatureScaling, fitEndCallbacks, runFitEnd} from '../../src/training/fit-end.js'
import {DigitModule} from '../../src/training/module.js'
import {runTraining} from '../../src/training/run.js'
import {FIXTURE_DIR} from '../helpers/fixtures.js'

function lines(): PassThrough & {text: () => string} {
  const stream = new PassThrough()
  let text = ''
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()))
  return Object.assign(stream, {text: () => text})
}

describe('fit-end callbacks', function () {
  this.timeout(120_000)
  const config = resolveTrainingConfig({flags: {'class-counts': '8=140,0=48,5=12', epochs: 1, backend: 'wasm', 'num-workers': 1}})
  let dir = ''
  let data: PreparedData
  let module: DigitModule
  let best: BestModel

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fit-end-'))
    await runTraining({config, dataDir: FIXTURE_DIR, outputDir: dir}, {progress: lines()})
    const checkpoint = await loadCheckpoint(join(dir, 'best.ckpt'))
    data = await prepareData(FIXTURE_DIR, config)
    module = new DigitModule(networkOf(checkpoint.header), {
      seed: config.seed,
      learningRate: config.learning_rate,
      classWeights: data.classWeights,
      values: checkpoint.values,
    })
    best = {run: {config, dataDir: FIXTURE_DIR, outputDir: dir}, data, network: module.network, val: module.predict(data.tensors.val)}
  })

  after(() => {
    module?.dispose()
    rmSync(dir, {recursive: true, force: true})
  })

  it('run in order: the open-set decision is fitted at the temperature fitted before it, and a later callback sees both', async () => {
    const seen: FitEnd[] = []
    const watcher: FitEndCallback = {
      name: 'watcher',
      onFitEnd: (_best, fitted) => {
        seen.push(fitted)
        return {fitted: {}, line: 'watched'}
      },
    }
    const progress = lines()
    const fitted = await runFitEnd([new TemperatureScaling(), new OpenSetDecision(config), watcher], best, progress)
    const temperature = fitted.calibration!.temperature
    expect(temperature).to.be.greaterThan(0).and.not.equal(1)
    expect(fitted.openSet!.temperature).to.equal(temperature)
    const k = data.dataset.classes.length
    expect(fitted.openSet!.threshold).to.equal(fitKnownThreshold(knownScores(best.val.logits, k, DEFAULT_KNOWN_SCORE, temperature), KNOWN_RATE))
    expect(seen).to.deep.equal([fitted])
    expect(progress.text().split('\n')).to.deep.equal([
      `calibration: temperature ${temperature.toFixed(4)} (validation NLL ${fitted.calibration!.nllBefore.toFixed(4)} → ${fitted.calibration!.nllAfter.toFixed(4)})`,
      `open set: ${DEFAULT_KNOWN_SCORE}, threshold ${fitted.openSet!.threshold.toPrecision(4)} (validation known-rate ${(fitted.openSet!.valKnownRate * 100).toFixed(1)}%)`,
      'watched',
      '',
    ])
  })

  it('are what the run fitted into best.ckpt, and without calibration the decision is at temperature 1', async () => {
    const header = (await loadCheckpoint(join(dir, 'best.ckpt'))).header
    const fitted = await runFitEnd(fitEndCallbacks(config), best, lines())
    expect({calibration: header.calibration, openSet: header.openSet}).to.deep.equal(fitted)

    const uncalibrated = fitEndCallbacks({...config, calibrate: false})
    expect(uncalibrated.map((callback) => callback.name)).to.deep.equal(['open_set'])
    const plain = await runFitEnd(uncalibrated, best, lines())
    expect(plain.calibration).to.equal(null)
    expect(plain.openSet!.temperature).to.equal(1)
  })
})
