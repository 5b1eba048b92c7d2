import {expect} from 'chai'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'

import {tf} from '../../src/engine/tf.js'
import {evaluateSplit, rebuildSplit} from '../../src/evaluation/evaluate.js'
import {loadCheckpoint} from '../../src/model/checkpoint.js'
import {loadPredictor} from '../../src/model/predictor.js'
import {ConfigFileSchema, type TrainingConfig, resolveRunConfig, resolveTrainingConfig} from '../../src/training/config.js'
import {type TrainRun, runTraining} from '../../src/training/run.js'
import type {EpochLog} from '../../src/artifacts/epoch-log.js'
import {expectUserRejection} from '../helpers/assert.js'
import {FIXTURE_DIR} from '../helpers/fixtures.js'

/** A small real run: 200 fixture digits in the SPEC's 70/24/6 proportions. */
function options(outputDir: string, overrides: Partial<TrainingConfig> & {resume?: boolean} = {}): TrainRun {
  const {resume, ...settings} = overrides
  const config = resolveTrainingConfig({flags: {'class-counts': '8=140,0=48,5=12', epochs: 2, backend: 'wasm', 'num-workers': 1}})
  return {config: {...config, ...settings}, dataDir: FIXTURE_DIR, outputDir, resume}
}

function quiet(): PassThrough {
  const stream = new PassThrough()
  stream.resume()
  return stream
}

describe('training run', function () {
  this.timeout(300_000)
  const dirs = {a: '', b: ''}

  before(() => {
    dirs.a = mkdtempSync(join(tmpdir(), 'train-a-'))
    dirs.b = mkdtempSync(join(tmpdir(), 'train-b-'))
  })

  it('trains the CNN on wasm and writes checkpoints, logs and artifacts', async () => {
    const epochs: EpochLog[] = []
    const summary = await runTraining(options(dirs.a), {progress: quiet(), onEpochEnd: (log) => epochs.push(log)})
    expect(summary.backend).to.equal('wasm')
    expect(summary.epochs).to.equal(2)
    expect(epochs.map((e) => e.epoch)).to.deep.equal([1, 2])
    expect(epochs[1].train_loss).to.be.lessThan(epochs[0].train_loss)
    expect(summary.metrics.eval.samples).to.equal(40)
    expect(summary.metrics.train.samples).to.equal(136)
    for (const file of [
      'best.ckpt',
      'last.ckpt',
      'logs/metrics.csv',
      'logs/metrics.json',
      'metrics.json',
      'predictions.json',
      'loss_curves.json',
      'run_metadata.json',
      'confusion_matrix.png',
      'gallery.png',
    ]) {
      expect(existsSync(join(dirs.a, file)), file).to.equal(true)
      expect(summary.files).to.include(file)
    }

    const csv = readFileSync(join(dirs.a, 'logs', 'metrics.csv'), 'utf8')
      .trim()
      .split('\n')
    expect(csv[0]).to.equal('epoch,train_loss,train_accuracy,val_loss,val_balanced_accuracy,val_f1_macro,learning_rate,epoch_seconds')
    expect(csv).to.have.length(3)
    const best = await loadCheckpoint(join(dirs.a, 'best.ckpt'))
    expect(best.header.training.bestEpoch).to.equal(summary.best_epoch)
    expect(best.header.normalization.mean).to.be.within(0.05, 0.3)
    expect(Object.keys(best.optimizer)).to.have.length(0)
    const last = await loadCheckpoint(join(dirs.a, 'last.ckpt'))
    expect(last.header.training.epoch).to.equal(2)
    expect(Object.keys(last.optimizer).length).to.be.greaterThan(10)
  })

  it('is reproducible: same seed, data and backend give identical best weights', async () => {
    await runTraining(options(dirs.b), {progress: quiet()})
    const [a, b] = await Promise.all([loadCheckpoint(join(dirs.a, 'best.ckpt')), loadCheckpoint(join(dirs.b, 'best.ckpt'))])
    for (const name of Object.keys(a.values)) expect(Buffer.from(a.values[name].buffer).equals(Buffer.from(b.values[name].buffer)), name).to.equal(true)
  })

  it('resumes from last.ckpt exactly where an uninterrupted run would be', async () => {
    const straight = mkdtempSync(join(tmpdir(), 'train-straight-'))
    await runTraining(options(straight, {epochs: 3}), {progress: quiet()})
    // dirs.b stopped after 2 epochs; continue it to 3.
    const resumed = await runTraining(options(dirs.b, {epochs: 3, resume: true}), {progress: quiet()})
    expect(resumed.epochs).to.equal(3)
    const [x, y] = await Promise.all([loadCheckpoint(join(straight, 'last.ckpt')), loadCheckpoint(join(dirs.b, 'last.ckpt'))])
    for (const name of Object.keys(x.values)) expect([...y.values[name]], name).to.deep.equal([...x.values[name]])
    expect(y.header.training.history).to.have.length(3)
  })

  it('completes a finished run on --resume without training again, and refuses other data', async () => {
    const before = readFileSync(join(dirs.b, 'last.ckpt'))
    rmSync(join(dirs.b, 'metrics.json'))
    const again = await runTraining(options(dirs.b, {epochs: 3, resume: true}), {progress: quiet()})
    expect(again.epochs).to.equal(3)
    expect(readFileSync(join(dirs.b, 'last.ckpt')).equals(before)).to.equal(true)
    expect(JSON.parse(readFileSync(join(dirs.b, 'metrics.json'), 'utf8')).num_epochs).to.equal(3)
    await expectUserRejection(
      runTraining(options(dirs.b, {epochs: 5, resume: true, seed: 1}), {progress: quiet()}),
      /split differs from the one last\.ckpt was trained on/,
    )
    await expectUserRejection(runTraining(options(dirs.b, {epochs: 5, resume: true, model: 'softmax'}), {progress: quiet()}), /holds a cnn model, not softmax/)
  })

  // (num_workers is recorded; its thread count takes effect in a new process: the wasm backend keeps the first count it started with.)
  it('applies the settings given on resume and records them in config.json and the checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'train-apply-'))
    await runTraining(options(dir, {epochs: 1}), {progress: quiet()})
    const summary = await runTraining(
      options(dir, {epochs: 2, resume: true, learning_rate: 0.01, num_workers: 2, run_name: 'renamed', roc_per_class: true, timing_stats: true}),
      {progress: quiet()},
    )
    const last = await loadCheckpoint(join(dir, 'last.ckpt'))
    expect(last.header.training.history.map((log) => log.learning_rate)).to.deep.equal([0.001, 0.01])
    expect(summary.run_name).to.equal('renamed')
    expect(summary.files).to.include.members(['roc_curves.json', 'timing_stats.json'])
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))
    // The file is what schema/config.schema.json publishes.
    expect(ConfigFileSchema.parse(config)).to.deep.equal(config)
    expect(config).to.include({learning_rate: 0.01, num_workers: 2, run_name: 'renamed', roc_per_class: true, timing_stats: true, epochs: 2})
    expect(last.header.training.config).to.deep.equal(config)
  })

  it('leaves no tensors behind, fresh or resumed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'train-leak-'))
    await runTraining(options(dir, {epochs: 1}), {progress: quiet()})
    const before = tf.memory().numTensors
    await runTraining(options(mkdtempSync(join(tmpdir(), 'train-leak-')), {epochs: 1}), {progress: quiet()})
    await runTraining(options(dir, {epochs: 2, resume: true}), {progress: quiet()})
    expect(tf.memory().numTensors).to.equal(before)
  })

  it('trains the softmax baseline through the same trainer, with every analytics artifact on request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'train-softmax-'))
    const summary = await runTraining(options(dir, {model: 'softmax', epochs: 3, roc_per_class: true, learning_rate_trace: true, timing_stats: true}), {
      progress: quiet(),
    })
    for (const file of ['roc_curves.json', 'roc_curves.png', 'training_dynamics.json', 'training_dynamics.png', 'timing_stats.json', 'timing_stats.png']) {
      expect(summary.files, file).to.include(file)
    }

    const metadata = JSON.parse(readFileSync(join(dir, 'run_metadata.json'), 'utf8'))
    expect(metadata.files.map((a: {name: string}) => a.name)).to.include.members(['roc_curves.png', 'timing_stats.json', 'metrics.json', 'config.json'])
    expect(metadata.feature_normalization.stats_source).to.equal('train')
    expect(summary.model).to.equal('softmax')
    expect(summary.metrics.eval.f1_macro).to.be.greaterThan(0.5)
    expect((await loadCheckpoint(join(dir, 'best.ckpt'))).header.model).to.equal('softmax')
  })

  it('--augment distorts every epoch reproducibly: a resumed run matches an uninterrupted one, and both differ from the plain recipe', async () => {
    const straight = mkdtempSync(join(tmpdir(), 'train-augment-'))
    const split = mkdtempSync(join(tmpdir(), 'train-augment-'))
    await runTraining(options(straight, {epochs: 3, augment: true}), {progress: quiet()})
    await runTraining(options(split, {epochs: 2, augment: true}), {progress: quiet()})
    await runTraining(options(split, {epochs: 3, augment: true, resume: true}), {progress: quiet()})
    const [x, y] = await Promise.all([loadCheckpoint(join(straight, 'last.ckpt')), loadCheckpoint(join(split, 'last.ckpt'))])
    for (const name of Object.keys(x.values)) expect(Buffer.from(y.values[name].buffer).equals(Buffer.from(x.values[name].buffer)), name).to.equal(true)
    expect(x.header.training.config.augment).to.equal(true)
    const plain = await loadCheckpoint(join(dirs.b, 'last.ckpt'))
    expect(Buffer.from(plain.values['conv1.kernel'].buffer).equals(Buffer.from(x.values['conv1.kernel'].buffer))).to.equal(false)
    const metadata = JSON.parse(readFileSync(join(straight, 'run_metadata.json'), 'utf8'))
    expect(metadata.training_config).to.include({augment: true, selection: 'f1', calibrate: true})
  })

  it('--model wide resumes from last.ckpt bit for bit, as an uninterrupted run', async () => {
    // Few images and epochs: the wide network costs four times the SPEC one an image.
    const wide = {model: 'wide' as const, class_counts: {0: 24, 5: 6, 8: 70}}
    const straight = mkdtempSync(join(tmpdir(), 'train-wide-'))
    const split = mkdtempSync(join(tmpdir(), 'train-wide-'))
    await runTraining(options(straight, {...wide, epochs: 2}), {progress: quiet()})
    await runTraining(options(split, {...wide, epochs: 1}), {progress: quiet()})
    const resumed = await runTraining(options(split, {...wide, epochs: 2, resume: true}), {progress: quiet()})
    expect(resumed.model).to.equal('wide')
    expect(resumed.epochs).to.equal(2)
    const [x, y] = await Promise.all([loadCheckpoint(join(straight, 'last.ckpt')), loadCheckpoint(join(split, 'last.ckpt'))])
    expect(y.header.model).to.equal('wide')
    expect(Object.keys(y.values)).to.deep.equal(Object.keys(x.values))
    for (const name of Object.keys(x.values)) expect(Buffer.from(y.values[name].buffer).equals(Buffer.from(x.values[name].buffer)), name).to.equal(true)
    for (const name of Object.keys(x.optimizer))
      expect(Buffer.from(y.optimizer[name].buffer).equals(Buffer.from(x.optimizer[name].buffer)), name).to.equal(true)
  })

  it('--loss logit-adjusted trains on logits + log prior, is kept in config.json and the checkpoints, and resumes bit for bit', async () => {
    const straight = mkdtempSync(join(tmpdir(), 'train-adjusted-'))
    const split = mkdtempSync(join(tmpdir(), 'train-adjusted-'))
    await runTraining(options(straight, {epochs: 3, loss: 'logit-adjusted'}), {progress: quiet()})
    await runTraining(options(split, {epochs: 2, loss: 'logit-adjusted'}), {progress: quiet()})
    expect(JSON.parse(readFileSync(join(split, 'config.json'), 'utf8')).loss).to.equal('logit-adjusted')
    // On --resume the loss comes from last.ckpt: it is not given again.
    const resumed = await resolveRunConfig({flags: {epochs: 3, backend: 'wasm', 'num-workers': 1}, resumeFrom: split})
    expect(resumed.loss).to.equal('logit-adjusted')
    await runTraining({config: resumed, dataDir: FIXTURE_DIR, outputDir: split, resume: true}, {progress: quiet()})
    const [x, y] = await Promise.all([loadCheckpoint(join(straight, 'last.ckpt')), loadCheckpoint(join(split, 'last.ckpt'))])
    expect(y.header.training.config.loss).to.equal('logit-adjusted')
    for (const name of Object.keys(x.values)) expect(Buffer.from(y.values[name].buffer).equals(Buffer.from(x.values[name].buffer)), name).to.equal(true)
    expect((await loadCheckpoint(join(straight, 'best.ckpt'))).header.training.config.loss).to.equal('logit-adjusted')
    // Another loss than the SPEC's: the same seed and data end elsewhere (dirs.b is the default run at 3 epochs).
    const plain = await loadCheckpoint(join(dirs.b, 'last.ckpt'))
    expect(plain.header.training.config.loss).to.equal('weighted')
    expect(Buffer.from(plain.values['conv1.kernel'].buffer).equals(Buffer.from(x.values['conv1.kernel'].buffer))).to.equal(false)
  })

  it('--loss logit-adjusted trains alike through the wasm kernel and the tfjs reference path (cpu)', async () => {
    const paths = {wasm: mkdtempSync(join(tmpdir(), 'train-adjusted-wasm-')), cpu: mkdtempSync(join(tmpdir(), 'train-adjusted-cpu-'))}
    // A quarter of the fixture subset: the cpu backend's convolution gradients are slow, and a few steps show the paths agree.
    const small = {class_counts: {0: 12, 5: 3, 8: 35}, epochs: 1} as const
    await runTraining(options(paths.wasm, {...small, loss: 'logit-adjusted'}), {progress: quiet()})
    await runTraining(options(paths.cpu, {...small, loss: 'logit-adjusted', backend: 'cpu'}), {progress: quiet()})
    const [wasm, cpu] = await Promise.all([loadCheckpoint(join(paths.wasm, 'last.ckpt')), loadCheckpoint(join(paths.cpu, 'last.ckpt'))])
    // Convolution biases feed batch norm, which cancels them: their gradient is rounding noise that Adam scales up,
    // and the running means take them in.
    for (const name of Object.keys(wasm.values).filter((n) => !/^conv\d\.bias$|movingMean$/.test(n))) {
      const a = wasm.values[name]
      const b = cpu.values[name]
      const scale = Math.max(...b.map(Math.abs), 1e-6)
      const gap = Math.max(...a.map((v, i) => Math.abs(v - b[i])))
      expect(gap / scale, name).to.be.lessThan(1e-3)
    }

    // The offsets matter: the weighted loss moves the same weights apart far more than the two paths differ.
    const weighted = mkdtempSync(join(tmpdir(), 'train-weighted-wasm-'))
    await runTraining(options(weighted, small), {progress: quiet()})
    const other = await loadCheckpoint(join(weighted, 'last.ckpt'))
    const gap = (p: Float32Array, q: Float32Array) => Math.max(...p.map((v, i) => Math.abs(v - q[i])))
    expect(gap(other.values['dense.kernel'], wasm.values['dense.kernel'])).to.be.greaterThan(10 * gap(wasm.values['dense.kernel'], cpu.values['dense.kernel']))
  })

  it('--ema-decay keeps the moving average in the checkpoints and resumes it bit for bit', async () => {
    const straight = mkdtempSync(join(tmpdir(), 'train-ema-'))
    const split = mkdtempSync(join(tmpdir(), 'train-ema-'))
    await runTraining(options(straight, {epochs: 3, ema_decay: 0.9}), {progress: quiet()})
    await runTraining(options(split, {epochs: 2, ema_decay: 0.9}), {progress: quiet()})
    await runTraining(options(split, {epochs: 3, ema_decay: 0.9, resume: true}), {progress: quiet()})
    const [x, y] = await Promise.all([loadCheckpoint(join(straight, 'last.ckpt')), loadCheckpoint(join(split, 'last.ckpt'))])
    for (const name of Object.keys(x.values)) expect(Buffer.from(y.values[name].buffer).equals(Buffer.from(x.values[name].buffer)), name).to.equal(true)
    // The values are the average; the live weights training continues from ride with the optimiser state.
    const live = x.optimizer['live/conv1.kernel']
    expect(live).to.have.length(x.values['conv1.kernel'].length)
    expect(Buffer.from(live.buffer).equals(Buffer.from(x.values['conv1.kernel'].buffer))).to.equal(false)
    expect(Buffer.from(y.optimizer['live/conv1.kernel'].buffer).equals(Buffer.from(live.buffer))).to.equal(true)
    expect(x.optimizer['average/steps'][0]).to.equal(y.optimizer['average/steps'][0])
    // Averaging never changes training: the same run without it (dirs.b, 3 epochs) holds exactly the live weights.
    const plain = await loadCheckpoint(join(dirs.b, 'last.ckpt'))
    expect(plain.header.training.epoch).to.equal(3)
    expect(Buffer.from(plain.values['conv1.kernel'].buffer).equals(Buffer.from(live.buffer))).to.equal(true)
    expect(x.header.training.config.ema_decay).to.equal(0.9)
  })

  it('calibrates on the validation split: best.ckpt holds a temperature that lowers its NLL and changes no prediction', async () => {
    const best = await loadCheckpoint(join(dirs.a, 'best.ckpt'))
    const calibration = best.header.calibration!
    expect(calibration.fittedOn).to.equal('val')
    expect(calibration.temperature).to.be.greaterThan(0).and.not.equal(1)
    expect(calibration.nllAfter).to.be.lessThan(calibration.nllBefore)
    // predictions.json carries calibrated probabilities; its labels are the network's argmax all the same.
    const rows = JSON.parse(readFileSync(join(dirs.a, 'predictions.json'), 'utf8')).samples as Array<{predicted_label: number; probabilities: number[]}>
    const predictor = await loadPredictor(join(dirs.a, 'best.ckpt'), {backend: 'wasm'})
    try {
      expect(predictor.temperature).to.equal(calibration.temperature)
      const data = await rebuildSplit(predictor.checkpoint, FIXTURE_DIR, 'eval')
      const evaluation = await evaluateSplit(predictor, data, 'eval', 64)
      expect(rows.map((r) => r.predicted_label)).to.deep.equal(evaluation.predicted)
      expect(rows[0].probabilities[0]).to.be.closeTo(evaluation.probs[0], 1e-5)
      expect(evaluation.uncalibratedProbs[0]).to.not.be.closeTo(evaluation.probs[0], 1e-6)
      const reliability = JSON.parse(readFileSync(join(dirs.a, 'reliability.json'), 'utf8'))
      expect(reliability.temperature).to.equal(calibration.temperature)
      // The temperature is a result of the run, recorded apart from its configuration.
      const metadata = JSON.parse(readFileSync(join(dirs.a, 'run_metadata.json'), 'utf8'))
      expect(metadata.results).to.deep.equal({best_epoch: best.header.training.epoch, temperature: calibration.temperature})
      expect(metadata.training_config).to.not.have.property('temperature')
      expect(reliability.before.ece).to.be.closeTo(evaluation.calibration.ece.before, 1e-6)
      expect(reliability.after.ece).to.be.closeTo(evaluation.calibration.ece.after, 1e-6)
    } finally {
      predictor.dispose()
    }

    const uncalibrated = mkdtempSync(join(tmpdir(), 'train-nocal-'))
    const summary = await runTraining(options(uncalibrated, {epochs: 1, calibrate: false}), {progress: quiet()})
    expect((await loadCheckpoint(join(uncalibrated, 'best.ckpt'))).header.calibration).to.equal(null)
    expect(JSON.parse(readFileSync(join(uncalibrated, 'reliability.json'), 'utf8')).temperature).to.equal(1)
    // The summary lists every file the run wrote.
    expect(summary.files.filter((f) => existsSync(join(uncalibrated, f)))).to.deep.equal(summary.files)
  })
})
