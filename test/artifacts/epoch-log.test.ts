import {readFileSync} from 'node:fs'

import {expect} from 'chai'

import {EpochLogSchema, LOGGED_METRICS, METRICS, epochLog, epochColumns, progressLine} from '../../src/artifacts/epoch-log.js'
import {buildLossCurves, buildTrainingDynamics} from '../../src/artifacts/build.js'
import {trainingDynamicsSpec} from '../../src/artifacts/plots.js'
import {LossCurvesSchema} from '../../src/artifacts/schemas.js'
import {fakeEpochs} from './run-data.js'

describe('the declared epoch metrics', () => {
  it('build the epoch log in declaration order from whatever the steps and the loop logged', () => {
    const log = epochLog(
      3,
      {train_loss: 0.5, train_accuracy: 0.8},
      {val_f1_macro: 0.7, val_loss: 0.4, val_balanced_accuracy: 0.85},
      {epoch_seconds: 2, learning_rate: 1e-3},
    )
    expect(Object.keys(log)).to.deep.equal(['epoch', ...LOGGED_METRICS])
    expect(EpochLogSchema.parse(log)).to.deep.equal(log)
  })

  it('refuse a metric logged but not declared, and a declared one nobody logged', () => {
    const all = {train_loss: 0.5, train_accuracy: 0.8, val_loss: 0.4, val_balanced_accuracy: 0.85, val_f1_macro: 0.7, learning_rate: 1e-3, epoch_seconds: 2}
    expect(() => epochLog(1, {...all, val_top5: 1} as never)).to.throw(/val_top5 was logged but is not declared in METRICS/)
    const {val_f1_macro: _f1, ...withoutF1} = all
    expect(() => epochLog(1, withoutF1)).to.throw(/no value was logged for val_f1_macro/)
  })

  it('write the progress line each metric declares, in its notation', () => {
    const [first] = fakeEpochs()
    expect(progressLine({...first, train_loss: 0.123456, val_f1_macro: 0.9, epoch_seconds: 14.204}, 12)).to.equal(
      'epoch 1/12  train_loss 0.1235  val_loss 0.7500  val_balanced_accuracy 0.8200  val_f1_macro 0.9000  lr 1.00e-3  14.20s',
    )
  })

  it('give the web table a column for each metric it shows, by the name the log has', () => {
    const columns = epochColumns()
    expect(columns.map((column) => column.name)).to.deep.equal([
      'train_loss',
      'val_loss',
      'val_balanced_accuracy',
      'val_f1_macro',
      'learning_rate',
      'epoch_seconds',
    ])
    for (const column of columns) expect(LOGGED_METRICS).to.include(column.name)
  })

  it('name the lists of loss_curves.json and training_dynamics.json, with the original demo’s val_accuracy beside the balanced accuracy', () => {
    const epochs = fakeEpochs()
    const curves = LossCurvesSchema.parse(buildLossCurves(epochs))
    expect(Object.keys(curves)).to.deep.equal([
      'schema_version',
      'epochs',
      'train_loss',
      'train_accuracy',
      'val_loss',
      'val_accuracy',
      'val_balanced_accuracy',
      'val_f1_macro',
    ])
    expect(curves.val_accuracy).to.deep.equal(epochs.map((e) => e.val_balanced_accuracy))
    expect(Object.keys(buildTrainingDynamics(epochs).epochs[0])).to.deep.equal(['epoch', 'learning_rate', 'train_loss', 'val_loss'])
  })

  it('plot the learning rate of training_dynamics.png from a field its points have', () => {
    const spec = trainingDynamicsSpec(fakeEpochs()) as unknown as {
      layer: Array<{data: {values: Array<Record<string, unknown>>}; encoding: {y: {field: string}}}>
    }
    for (const layer of spec.layer) {
      for (const point of layer.data.values) expect(point, layer.encoding.y.field).to.have.property(layer.encoding.y.field)
    }

    expect(spec.layer[1].data.values.map((point) => point[METRICS.learningRate.name])).to.deep.equal(fakeEpochs().map((e) => e.learning_rate))
  })

  it('are the names README and docs/web-api.md list for an epoch log, in order', () => {
    const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8')
    const row = read('README.md')
      .split('\n')
      .find((line) => line.startsWith('| `logs/metrics.csv`')) as string
    const inRow = [...row.matchAll(/`([a-z]+(?:_[a-z0-9]+)+)`/g)].map((match) => match[1])
    expect(inRow).to.deep.equal([...LOGGED_METRICS])
    const history = /holds one entry per finished epoch, `\{epoch, ([^}]*)\}`/.exec(read('docs/web-api.md').replaceAll('\n', ' '))
    expect(history?.[1].split(', ')).to.deep.equal([...LOGGED_METRICS])
  })
})
