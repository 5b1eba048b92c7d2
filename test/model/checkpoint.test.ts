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
    metrics: {val_f1_macro: 0.9},
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

  it('stores its header in snake_case, as every JSON file the package writes ', () => {
    const bytes = encodeCheckpoint({...header, training: {...header.training, history: [{epoch: 1, val_f1_macro: 0.9, epoch_seconds: 2}]}}, values, optimizer)
    const raw = JSON.parse(bytes.subarray(12, 12 + bytes.readUInt32LE(8)).toString('utf8'))
    const keys = (value: unknown): string[] =>
      typeof value === 'object' && value !== null
        ? Object.entries(value).flatMap(([key, inner]) => [...(Array.isArray(value) ? [] : [key]), ...keys(inner)])
        : []
    expect(keys(raw).filter((key) => !/^[a-z\d_]+$/.test(key))).to.deep.equal([])
    expect(raw).to.deep.include({format_version: 1, feature_normalization: {method: 'standardize', stats_source: 'train', mean: 0.13, std: 0.31}})
    expect(raw.training).to.deep.include({
      best_epoch: 1,
      best_val_f1_macro: 0.9,
      learning_rate: 5e-4,
      history: [{epoch: 1, val_f1_macro: 0.9, epoch_seconds: 2}],
    })
    expect(raw.optimizer_tensors.map((t: {name: string}) => t.name)).to.deep.equal(['iter', 'dense.bias/m'])
    // Read back in the code's own names.
    const loaded = decodeCheckpoint(bytes, 'last.ckpt')
    expect(loaded.header.training.history).to.deep.equal([{epoch: 1, val_f1_macro: 0.9, epoch_seconds: 2}])
    expect(loaded.header.data.evalRatio).to.equal(0.2)
  })

  it('refuses a checkpoint in another header format in one line, naming the format it reads', () => {
    const bytes = encodeCheckpoint(header, values)
    const length = bytes.readUInt32LE(8)
    const raw = JSON.parse(bytes.subarray(12, 12 + length).toString('utf8'))
    const tensorBytes = bytes.subarray(12 + length, bytes.length - 32)
    for (const [variant, shown] of [
      [{...raw, format_version: 2}, '2'],
      [{format: raw.format, formatVersion: 1, model: 'cnn'}, 'null'],
    ] as const) {
      const json = Buffer.from(JSON.stringify(variant), 'utf8')
      const size = Buffer.alloc(4)
      size.writeUInt32LE(json.length)
      const body = Buffer.concat([Buffer.from('DIGITCKP'), size, json, tensorBytes])
      expect(() => decodeCheckpoint(Buffer.concat([body, createHash('sha256').update(body).digest()]), 'old.ckpt')).to.throw(
        UserError,
        new RegExp(
          `^old\\.ckpt is not a usable checkpoint: its header is in another format \\(format_version ${shown}; this version reads 1\\): train it again$`,
        ),
      )
    }
  })
})
