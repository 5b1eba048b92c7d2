import {expect} from 'chai'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {checkpointId, decodeCheckpoint, encodeCheckpoint, loadCheckpoint, saveCheckpoint} from '../../src/model/checkpoint.js'
import {initialValues} from '../../src/model/network.js'
import {UserError} from '../../src/errors.js'
import {expectUserRejection} from '../helpers/assert.js'

const header = {
  model: 'cnn' as const,
  normalization: {method: 'standardize' as const, mean: 0.13, std: 0.31},
  data: {seed: 7, evalRatio: 0.2, valRatio: 0.15, classCounts: {0: 12, 5: 3, 8: 35}, fingerprints: {train: 'a', val: 'b', eval: 'c'}},
  training: {epoch: 2, bestEpoch: 1, bestValF1Macro: 0.9, learningRate: 5e-4, stopReason: null, metrics: {valF1Macro: 0.9}, backend: 'wasm', config: {seed: 7}, callbacks: {earlyStopping: {best: 0.9, wait: 1}}, history: [{epoch: 1}]},
}

describe('checkpoint file', () => {
  const values = initialValues('cnn', 7)
  const optimizer = {iter: Float32Array.of(12), 'dense.bias/m': Float32Array.of(0.1, 0.2, 0.3)}

  it('round-trips weights, optimiser state and header', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'))
    const file = join(dir, 'last.ckpt')
    await saveCheckpoint(file, header, values, optimizer)
    const loaded = await loadCheckpoint(file)
    expect(loaded.header.model).to.equal('cnn')
    expect(loaded.header.classes).to.deep.equal([0, 5, 8])
    expect(loaded.header.data.fingerprints.eval).to.equal('c')
    expect(loaded.header.training.callbacks).to.deep.equal({earlyStopping: {best: 0.9, wait: 1}})
    for (const [name, value] of Object.entries(values)) expect([...loaded.values[name]]).to.deep.equal([...value])
    expect([...loaded.optimizer['dense.bias/m']]).to.deep.equal([...Float32Array.of(0.1, 0.2, 0.3)])
    expect(checkpointId(loaded)).to.match(/^[0-9a-f]{12}$/)
  })

  it('rejects truncated, corrupted and foreign files in one line', async () => {
    const bytes = encodeCheckpoint(header, values)
    expect(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 100), 'best.ckpt')).to.throw(UserError, /best\.ckpt is not a usable checkpoint: it is truncated or corrupted/)
    const flipped = Buffer.from(bytes)
    flipped[flipped.length - 500] ^= 1
    expect(() => decodeCheckpoint(flipped, 'best.ckpt')).to.throw(UserError, /truncated or corrupted/)
    expect(() => decodeCheckpoint(readFileSync(join(import.meta.dirname, '..', '..', 'sample.png')), 'sample.png')).to.throw(UserError, /sample\.png is not a usable checkpoint: it is not a digit-classification checkpoint/)
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
})
