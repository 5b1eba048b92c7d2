import {expect} from 'chai'

import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'

import {PIXELS} from '../../src/config.js'
import {type EpochLog, EpochLogSchema, type Logged} from '../../src/artifacts/epoch-log.js'
import {loadCheckpoint} from '../../src/model/checkpoint.js'
import {describeNetwork, initialValues} from '../../src/model/network.js'
import {EarlyStopping, type Monitor, ModelCheckpoint, ReduceLROnPlateau} from '../../src/training/callbacks.js'
import type {CheckpointWriter, RunDescription} from '../../src/training/checkpointing.js'
import type {Batchable, StepOutput} from '../../src/training/module.js'
import {type Callback, type TrainableModule, Trainer} from '../../src/training/trainer.js'

/** A validation split; the fake module reports scripted metrics for it. */
const VAL: Batchable = {x: new Float32Array(3 * PIXELS), y: Int32Array.from([0, 1, 2])}
const PERFECT = 1
const POOR = 1 / 6

function trainSet(n: number): Batchable {
  return {x: new Float32Array(n * PIXELS), y: Int32Array.from({length: n}, (_, i) => i % 3)}
}

/** A module whose validation outputs follow a script, one entry per epoch; steps are recorded. */
class FakeModule implements TrainableModule {
  learningRate = 0.01
  readonly steps: number[] = []
  private validations = 0

  constructor(private readonly script: Array<{f1: number; loss: number; accuracy?: number}>) {}

  trainingStep(x: Float32Array, y: Int32Array): StepOutput {
    expect(x.length).to.equal(y.length * PIXELS)
    this.steps.push(y.length)
    // One image right per batch.
    return {loss: y.length, log: {train_loss: y.length, train_accuracy: 1 / y.length}}
  }

  validationStep(data: Batchable): Logged {
    expect(data).to.equal(VAL)
    const {f1, loss, accuracy = f1} = this.script[Math.min(this.validations, this.script.length - 1)]
    this.validations += 1
    return {val_loss: loss, val_balanced_accuracy: accuracy, val_f1_macro: f1}
  }

  /** Real softmax-model weights, so checkpoints the trainer writes are real files that load back. */
  readonly weights = initialValues(describeNetwork('softmax', 3), 7)

  async values(): Promise<Record<string, Float32Array>> {
    return this.weights
  }

  async optimizerState(): Promise<Record<string, Float32Array>> {
    return {'dense.bias/m': Float32Array.from([this.validations, 0, 0])}
  }
}

/** What a run tells the trainer for its checkpoints. */
const RUN: RunDescription = {
  model: 'softmax',
  classes: [0, 5, 8],
  normalization: {method: 'standardize', mean: 0.13, std: 0.31},
  data: {seed: 7, evalRatio: 0.2, valRatio: 0.15, classCounts: {0: 1, 5: 1, 8: 1}, fingerprints: {train: 'a', val: 'b', eval: 'c'}},
  backend: 'fake',
  config: {epochs: 3},
}

/** Records each checkpoint the trainer writes as `file@epoch best=bestEpoch`. */
function capture(events: string[]): CheckpointWriter {
  return async (file, {header}) => void events.push(`${basename(file)}@${header.training.epoch} best=${header.training.bestEpoch}`)
}

function recorder(name: string, events: string[]): Callback {
  return {
    name,
    onFitStart: () => void events.push(`${name}:fitStart`),
    onEpochStart: (_state, epoch) => void events.push(`${name}:epochStart ${epoch}`),
    onBatchEnd: (_state, info) => void events.push(`${name}:batchEnd ${info.epoch}.${info.batch}/${info.batches} (${info.size})`),
    onEpochEnd: (state, log) => void events.push(`${name}:epochEnd ${log.epoch} (state.epoch ${state.epoch})`),
    onFitEnd: (state) => void events.push(`${name}:fitEnd (${state.epoch} epochs)`),
  }
}

describe('Trainer', () => {
  it('runs epochs of mini-batches, validates after each, and logs the means', async () => {
    const module = new FakeModule([{f1: PERFECT, loss: 0.5}])
    const state = await new Trainer({maxEpochs: 3, batchSize: 2, seed: 1, callbacks: []}).fit(module, trainSet(5), VAL)
    expect(state.epoch).to.equal(3)
    expect(module.steps).to.deep.equal([2, 2, 1, 2, 2, 1, 2, 2, 1])
    expect(state.history.map((log) => log.epoch)).to.deep.equal([1, 2, 3])
    const [first] = state.history
    // Loss per step is the batch size, weighted by it: (2·2 + 2·2 + 1·1) / 5.
    expect(first.train_loss).to.be.closeTo(9 / 5, 1e-12)
    expect(first.train_accuracy).to.be.closeTo(3 / 5, 1e-12)
    expect(first.val_loss).to.equal(0.5)
    expect(first.val_f1_macro).to.equal(1)
    expect(first.learning_rate).to.equal(0.01)
  })

  it('continues a resumed run from its epoch and history', async () => {
    const module = new FakeModule([{f1: PERFECT, loss: 0.5}])
    const earlier: EpochLog = {
      epoch: 1,
      train_loss: 1,
      train_accuracy: 0,
      val_loss: 1,
      val_balanced_accuracy: 0,
      val_f1_macro: 0,
      learning_rate: 0.01,
      epoch_seconds: 0,
    }
    const state = await new Trainer({maxEpochs: 2, batchSize: 5, seed: 1, callbacks: []}).fit(module, trainSet(5), VAL, {epoch: 1, history: [earlier]})
    expect(module.steps).to.deep.equal([5])
    expect(state.history.map((log) => log.epoch)).to.deep.equal([1, 2])
  })

  it('calls every hook in the order the callbacks were given', async () => {
    const events: string[] = []
    const module = new FakeModule([{f1: PERFECT, loss: 0.5}])
    await new Trainer({maxEpochs: 2, batchSize: 3, seed: 1, callbacks: [recorder('a', events), recorder('b', events)]}).fit(module, trainSet(4), VAL)
    const epoch = (e: number) => [
      `a:epochStart ${e}`,
      `b:epochStart ${e}`,
      `a:batchEnd ${e}.1/2 (3)`,
      `b:batchEnd ${e}.1/2 (3)`,
      `a:batchEnd ${e}.2/2 (1)`,
      `b:batchEnd ${e}.2/2 (1)`,
      `a:epochEnd ${e} (state.epoch ${e})`,
      `b:epochEnd ${e} (state.epoch ${e})`,
    ]
    expect(events).to.deep.equal(['a:fitStart', 'b:fitStart', ...epoch(1), ...epoch(2), 'a:fitEnd (2 epochs)', 'b:fitEnd (2 epochs)'])
  })

  it('stops early when a callback says so, after finishing that epoch', async () => {
    const events: string[] = []
    const module = new FakeModule([
      {f1: PERFECT, loss: 0.5},
      {f1: POOR, loss: 0.5},
    ])
    const state = await new Trainer({maxEpochs: 10, batchSize: 5, seed: 1, callbacks: [new EarlyStopping(2), recorder('r', events)]}).fit(
      module,
      trainSet(5),
      VAL,
    )
    expect(state.epoch).to.equal(3)
    expect(state.shouldStop).to.equal(true)
    expect(state.stopReason).to.match(/val_f1_macro did not improve for 2 epochs \(best 1\.0000\)/)
    expect(events.filter((e) => e.startsWith('r:epochEnd'))).to.have.length(3)
    expect(events.at(-1)).to.equal('r:fitEnd (3 epochs)')
  })

  it('monitors the metric and mode it is given: val_loss (min) keeps the rate while val_f1_macro (max) has plateaued', async () => {
    // F1 is flat at 1; the validation loss falls every epoch.
    const script = [0.9, 0.8, 0.7, 0.6].map((loss) => ({f1: PERFECT, loss}))
    const run = async (scheduler: ReduceLROnPlateau) => {
      const module = new FakeModule(script)
      const state = await new Trainer({maxEpochs: 4, batchSize: 5, seed: 1, callbacks: [scheduler]}).fit(module, trainSet(5), VAL)
      return state.history.map((log) => log.learning_rate).concat(module.learningRate)
    }

    expect(await run(new ReduceLROnPlateau(0.5, 0))).to.deep.equal([0.01, 0.01, 0.005, 0.0025, 0.00125])
    expect(await run(new ReduceLROnPlateau(0.5, 0, 1e-4, {metric: 'val_loss', mode: 'min'}))).to.deep.equal([0.01, 0.01, 0.01, 0.01, 0.01])
    // The same falling loss watched in the wrong mode is a plateau at once.
    expect(await run(new ReduceLROnPlateau(0.5, 0, 1e-4, {metric: 'val_loss', mode: 'max'}))).to.deep.equal([0.01, 0.01, 0.005, 0.0025, 0.00125])
  })

  it('keeps the best checkpoint and stops early on the metric and mode it is given', async () => {
    // F1 falls after epoch 1 while the validation loss keeps falling.
    const script = [{f1: PERFECT, loss: 0.9}, ...[0.8, 0.7, 0.6, 0.5].map((loss) => ({f1: POOR, loss}))]
    const run = async (monitors: Monitor[]) => {
      const events: string[] = []
      const trainer = new Trainer({
        maxEpochs: 5,
        batchSize: 5,
        seed: 1,
        callbacks: [new ModelCheckpoint('/nonexistent', monitors), new EarlyStopping(2, monitors)],
        run: RUN,
        writeCheckpoint: capture(events),
      })
      const state = await trainer.fit(new FakeModule(script), trainSet(5), VAL)
      const saved = events.filter((e) => e.startsWith('best.ckpt')).map((e) => Number(/@(\d+)/.exec(e)![1]))
      return {saved, epochs: state.epoch, stopReason: state.stopReason}
    }

    expect(await run([{metric: 'val_f1_macro', mode: 'max'}])).to.deep.equal({
      saved: [1],
      epochs: 3,
      stopReason: 'val_f1_macro did not improve for 2 epochs (best 1.0000)',
    })
    expect(await run([{metric: 'val_loss', mode: 'min'}])).to.deep.equal({saved: [1, 2, 3, 4, 5], epochs: 5, stopReason: undefined})
  })

  it('monitors any logged metric in the mode it is given, and refuses a metric it does not log', async () => {
    // Macro F1 falls after epoch 1 while the balanced accuracy peaks at epoch 3.
    const script = [0.5, 0.6, 0.9, 0.8, 0.7, 0.6].map((accuracy, i) => ({f1: i === 0 ? PERFECT : POOR, loss: 0.5, accuracy}))
    const events: string[] = []
    const monitors: Monitor[] = [{metric: 'val_balanced_accuracy', mode: 'max'}]
    const stopper = new EarlyStopping(2, monitors)
    const trainer = new Trainer({
      maxEpochs: 10,
      batchSize: 5,
      seed: 1,
      callbacks: [new ModelCheckpoint('/run', monitors), stopper],
      run: RUN,
      writeCheckpoint: capture(events),
    })
    const state = await trainer.fit(new FakeModule(script), trainSet(5), VAL)
    expect(events.filter((e) => e.startsWith('best.ckpt'))).to.deep.equal(['best.ckpt@1 best=1', 'best.ckpt@2 best=2', 'best.ckpt@3 best=3'])
    expect(state.stopReason).to.equal('val_balanced_accuracy did not improve for 2 epochs (best 0.9000)')
    expect(stopper.stateDict()).to.deep.equal({best: {val_balanced_accuracy: 0.9}, wait: 2})

    expect(() => new EarlyStopping(3, [{metric: 'val_f2', mode: 'max'}])).to.throw(
      'cannot monitor "val_f2": it is not a logged metric (train_loss, train_accuracy, val_loss, val_balanced_accuracy, val_f1_macro, learning_rate, epoch_seconds)',
    )
    expect(() => new ModelCheckpoint('/run', [])).to.throw('a callback needs at least one metric to monitor')
    // A mode read from a file is not checked by the type system.
    const parsed: Monitor = JSON.parse('{"metric": "val_loss", "mode": "lowest"}')
    expect(() => new ReduceLROnPlateau(0.5, 2, 1e-4, parsed)).to.throw('cannot monitor val_loss in mode "lowest": the mode is min or max')
  })

  it('runs checkpointing callbacks after all others, whatever order they were given in', async () => {
    const events: string[] = []
    const module = new FakeModule([
      {f1: POOR, loss: 0.5},
      {f1: PERFECT, loss: 0.5},
    ])
    const trainer = new Trainer({
      maxEpochs: 2,
      batchSize: 5,
      seed: 1,
      callbacks: [new ModelCheckpoint('/run'), recorder('a', events), recorder('b', events)],
      run: RUN,
      writeCheckpoint: capture(events),
    })
    expect(trainer.callbacks.map((cb) => cb.name)).to.deep.equal(['a', 'b', 'model_checkpoint'])
    await trainer.fit(module, trainSet(5), VAL)
    expect(events.filter((e) => !e.includes('batchEnd') && !e.includes('epochStart'))).to.deep.equal([
      'a:fitStart',
      'b:fitStart',
      'a:epochEnd 1 (state.epoch 1)',
      'b:epochEnd 1 (state.epoch 1)',
      'best.ckpt@1 best=1',
      'last.ckpt@1 best=1',
      'a:epochEnd 2 (state.epoch 2)',
      'b:epochEnd 2 (state.epoch 2)',
      'best.ckpt@2 best=2',
      'last.ckpt@2 best=2',
      'a:fitEnd (2 epochs)',
      'b:fitEnd (2 epochs)',
    ])
  })

  it('refuses two callbacks that would keep their state under one name', () => {
    expect(() => new Trainer({maxEpochs: 1, batchSize: 1, seed: 1, callbacks: [new EarlyStopping(), new EarlyStopping()]})).to.throw(
      /two callbacks keep their state under the name early_stopping/,
    )
  })

  it('assembles checkpoints from the run, the loop, every callback and the module, and resumes each callback from them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trainer-'))
    try {
      // F1 improves at epoch 1 only: the plateau rate halves after epoch 2, early stopping waits 1 of 3 epochs per poor epoch.
      const script = [
        {f1: PERFECT, loss: 0.5},
        {f1: POOR, loss: 0.4},
        {f1: POOR, loss: 0.3},
      ]
      const callbacks = () => [new ModelCheckpoint(dir), new EarlyStopping(3), new ReduceLROnPlateau(0.5, 0)]
      const module = new FakeModule(script)
      await new Trainer({maxEpochs: 2, batchSize: 5, seed: 1, callbacks: callbacks(), run: RUN}).fit(module, trainSet(5), VAL)

      const last = await loadCheckpoint(join(dir, 'last.ckpt'))
      expect(last.header).to.deep.include({model: 'softmax', normalization: RUN.normalization, data: RUN.data})
      expect(last.header.training).to.deep.include({
        epoch: 2,
        bestEpoch: 1,
        bestValF1Macro: 1,
        learningRate: 0.005,
        stopReason: null,
        backend: 'fake',
        config: RUN.config,
      })
      expect(last.header.training.history.map((log) => log.val_f1_macro)).to.deep.equal([PERFECT, POOR])
      expect(last.header.training.metrics).to.deep.include({epoch: 2, val_loss: 0.4, learning_rate: 0.01})
      // Saved after every other callback has seen epoch 2: the plateau's reduction and early stopping's count are in.
      expect(last.header.training.callbacks).to.deep.equal({
        model_checkpoint: {best_epoch: 1, best: {val_f1_macro: 1}},
        early_stopping: {best: {val_f1_macro: 1}, wait: 1},
        reduce_lr_on_plateau: {best: 1, bad: 0},
      })
      expect(last.values['dense.kernel']).to.deep.equal(module.weights['dense.kernel'])
      expect(last.optimizer['dense.bias/m']).to.deep.equal(Float32Array.from([2, 0, 0]))
      const best = await loadCheckpoint(join(dir, 'best.ckpt'))
      expect(best.header.training).to.deep.include({epoch: 1, bestEpoch: 1})
      expect(best.optimizer).to.deep.equal({})

      // A resumed trainer continues each callback where it stopped: early stopping's third poor epoch ends the run.
      const resumed = new Trainer({maxEpochs: 5, batchSize: 5, seed: 1, callbacks: callbacks(), run: RUN})
      const {epoch, history, callbacks: saved} = last.header.training
      const state = await resumed.fit(new FakeModule(script.slice(2)), trainSet(5), VAL, {
        epoch,
        history: history.map((log) => EpochLogSchema.parse(log)),
        callbacks: saved,
      })
      expect(state.epoch).to.equal(4)
      expect(state.stopReason).to.match(/did not improve for 3 epochs/)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
