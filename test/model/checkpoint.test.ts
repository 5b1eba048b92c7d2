import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {checkpointId, decodeCheckpoint, encodeCheckpoint, loadCheckpoint, saveCheckpoint} from '../../src/model/checkpoint.js'
import {describeNetwork, initialValues} from '../../src/model/network.js'
import {UserError} from '../../src/errors.js'
import {expectUserRejection} from '../helpers/assert.js'

const header = {
  model: 'cnn' as const,
  classes: [0, 5, 8],
  normalization: {method: 'standardize' as const, mean: 0.13, std: 0.31},
  data: {seed: 7, evalRatio: 0.2, valRatio: 0.15, classCounts: {0: 12, 5: 3, 8: 35}, fingerprints: {train: 'a', val: 'b', eval: 'c'}},
  training: {
    epoch: 2,
    bestEpoch: 1,
    bestValF1Macro: 0.9,
    learningRate: 5e-4,
    stopReason: null,
    metrics: {valF1Macro: 0.9},
    backend: 'wasm',
    config: {seed: 7},
    callbacks: {early_stopping: {best: {val_f1_macro: 0.9}, wait: 1}},
    history: [{epoch: 1}],
  },
}

describe('checkpoint file', () => {
  const values = initialValues(describeNetwork('cnn', 3), 7)
  const optimizer = {iter: Float32Array.of(12), 'dense.bias/m': Float32Array.of(0.1, 0.2, 0.3)}

  it('round-trips weights, optimiser state and header', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'))
    const file = join(dir, 'last.ckpt')
    await saveCheckpoint(file, header, values, optimizer)
    const loaded = await loadCheckpoint(file)
    expect(loaded.header.model).to.equal('cnn')
    expect(loaded.header.classes).to.deep.equal([0, 5, 8])
    expect(loaded.header.data.fingerprints.eval).to.equal('c')
    expect(loaded.header.training.callbacks).to.deep.equal({early_stopping: {best: {val_f1_macro: 0.9}, wait: 1}})
    for (const [name, value] of Object.entries(values)) expect([...loaded.values[name]]).to.deep.equal([...value])
    expect([...loaded.optimizer['dense.bias/m']]).to.deep.equal([...Float32Array.of(0.1, 0.2, 0.3)])
    expect(checkpointId(loaded)).to.match(/^[0-9a-f]{12}$/)
  })

  it('rejects truncated, corrupted and foreign files in one line', async () => {
    const bytes = encodeCheckpoint(header, values)
    expect(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 100), 'best.ckpt')).to.throw(
      UserError,
      /best\.ckpt is not a usable checkpoint: it is truncated or corrupted/,
    )
    const flipped = Buffer.from(bytes)
    flipped[flipped.length - 500] ^= 1
    expect(() => decodeCheckpoint(flipped, 'best.ckpt')).to.throw(UserError, /truncated or corrupted/)
    expect(() => decodeCheckpoint(readFileSync(join(import.meta.dirname, '..', '..', 'sample.png')), 'sample.png')).to.throw(
      UserError,
      /sample\.png is not a usable checkpoint: it is not a digit-classification checkpoint/,
    )
    expect(() => decodeCheckpoint(Buffer.alloc(0), 'empty.ckpt')).to.throw(UserError, /not a digit-classification checkpoint/)
    await expectUserRejection(loadCheckpoint('/nonexistent/best.ckpt'), /checkpoint \/nonexistent\/best\.ckpt not found; train a model first/)
  })

  it('leaves the previous file whole when a write fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'))
    const file = join(dir, 'best.ckpt')
    await saveCheckpoint(file, header, values)
    const before = readFileSync(file)
    const broken = {...values, 'conv1.kernel': new Float32Array(3)}
    try {
      await saveCheckpoint(file, header, broken)
      expect.fail('expected a failure')
    } catch (error) {
      expect((error as Error).message).to.match(/wrong size/)
    }

    expect(readFileSync(file).equals(before)).to.equal(true)
    writeFileSync(join(dir, 'x'), '')
  })

  it('stores its header in snake_case, as every JSON file the package writes (format 2)', () => {
    const bytes = encodeCheckpoint({...header, training: {...header.training, history: [{epoch: 1, valF1Macro: 0.9, epochSeconds: 2}]}}, values, optimizer)
    const raw = JSON.parse(bytes.subarray(12, 12 + bytes.readUInt32LE(8)).toString('utf8'))
    const keys = (value: unknown): string[] =>
      typeof value === 'object' && value !== null
        ? Object.entries(value).flatMap(([key, inner]) => [...(Array.isArray(value) ? [] : [key]), ...keys(inner)])
        : []
    expect(keys(raw).filter((key) => !/^[a-z\d_]+$/.test(key))).to.deep.equal([])
    expect(raw).to.deep.include({format_version: 2, feature_normalization: {method: 'standardize', stats_source: 'train', mean: 0.13, std: 0.31}})
    expect(raw.training).to.deep.include({
      best_epoch: 1,
      best_val_f1_macro: 0.9,
      learning_rate: 5e-4,
      history: [{epoch: 1, val_f1_macro: 0.9, epoch_seconds: 2}],
    })
    expect(raw.optimizer_tensors.map((t: {name: string}) => t.name)).to.deep.equal(['iter', 'dense.bias/m'])
    // Read back in the code's own names.
    const loaded = decodeCheckpoint(bytes, 'last.ckpt')
    expect(loaded.header.training.history).to.deep.equal([{epoch: 1, valF1Macro: 0.9, epochSeconds: 2}])
    expect(loaded.header.data.evalRatio).to.equal(0.2)
  })

  it('reads a checkpoint written in format 1 (camelCase header), callbacks under their present names', () => {
    // The header exactly as format 1 wrote it, followed by the tensors in header order.
    const tensors = Object.entries(values).map(([name, value]) => ({name, shape: [value.length]}))
    const v1 = {
      format: 'digit-classification-checkpoint',
      formatVersion: 1,
      packageVersion: '0.1.0',
      createdAt: '2026-11-20T10:00:00.000Z',
      model: 'cnn',
      classes: [0, 5, 8],
      normalization: {method: 'standardize', mean: 0.13, std: 0.31},
      data: {seed: 7, evalRatio: 0.2, valRatio: 0.15, classCounts: {0: 12, 5: 3, 8: 35}, fingerprints: {train: 'a', val: 'b', eval: 'c'}},
      training: {
        epoch: 2,
        bestEpoch: 1,
        bestValF1Macro: 0.9,
        learningRate: 5e-4,
        stopReason: null,
        metrics: {epoch: 2, valF1Macro: 0.8},
        backend: 'wasm',
        config: {seed: 7, learning_rate: 0.001},
        callbacks: {
          earlyStopping: {best: 0.9, bestValLoss: 0.3, wait: 1},
          modelCheckpoint: {bestEpoch: 1, bestValF1Macro: 0.9, bestValLoss: 0.3},
          reduceLROnPlateau: {best: 0.9, bad: 1},
        },
        history: [
          {epoch: 1, valF1Macro: 0.9},
          {epoch: 2, valF1Macro: 0.8},
        ],
      },
      calibration: {temperature: 1.5, fittedOn: 'val', nllBefore: 0.2, nllAfter: 0.1},
      tensors,
      optimizerTensors: [],
    }
    const json = Buffer.from(JSON.stringify(v1), 'utf8')
    const length = Buffer.alloc(4)
    length.writeUInt32LE(json.length)
    const body = Buffer.concat([Buffer.from('DIGITCKP'), length, json, ...tensors.map(({name}) => Buffer.from(values[name].buffer))])
    const loaded = decodeCheckpoint(Buffer.concat([body, createHash('sha256').update(body).digest()]), 'old.ckpt')
    expect(loaded.header).to.deep.include({formatVersion: 1, model: 'cnn', normalization: {method: 'standardize', mean: 0.13, std: 0.31}})
    expect(loaded.header.data).to.deep.include({evalRatio: 0.2, valRatio: 0.15})
    expect(loaded.header.training).to.deep.include({epoch: 2, bestEpoch: 1, learningRate: 5e-4, stopReason: null})
    expect(Object.keys(loaded.header.training.callbacks)).to.deep.equal(['early_stopping', 'model_checkpoint', 'reduce_lr_on_plateau'])
    expect(loaded.header.calibration).to.deep.equal({temperature: 1.5, fittedOn: 'val', nllBefore: 0.2, nllAfter: 0.1})
    for (const [name, value] of Object.entries(values)) expect([...loaded.values[name]]).to.deep.equal([...value])
    // A damaged format-1 header is named by its own keys.
    const broken = Buffer.from(JSON.stringify({...v1, data: {...v1.data, evalRatio: 1.5}}), 'utf8')
    const brokenLength = Buffer.alloc(4)
    brokenLength.writeUInt32LE(broken.length)
    const brokenBody = Buffer.concat([Buffer.from('DIGITCKP'), brokenLength, broken, ...tensors.map(({name}) => Buffer.from(values[name].buffer))])
    expect(() => decodeCheckpoint(Buffer.concat([brokenBody, createHash('sha256').update(brokenBody).digest()]), 'old.ckpt')).to.throw(
      UserError,
      /old\.ckpt is not a usable checkpoint: its header is invalid at "data\.evalRatio"/,
    )
  })
})
