import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {join} from 'node:path'

import {DEFAULT_CLASS_COUNTS, DEFAULT_EVAL_RATIO, DEFAULT_SEED, DEFAULT_VAL_RATIO} from '../../src/config.js'
import {buildCuratedDataset, computeNormalization, describeSplits, loadCuratedDataset, splitTensors} from '../../src/data/dataset.js'
import {Rng} from '../../src/data/rng.js'
import {NotEnoughImages, allocate, curateSubset, formatClassCounts, parseClassCounts, suggestClassCounts} from '../../src/data/split.js'
import {UserError} from '../../src/errors.js'
import {expectUserRejection} from '../helpers/assert.js'
import {FIXTURE_DIR, ROOT, repeatedFixture} from '../helpers/fixtures.js'

const defaults = {seed: DEFAULT_SEED, evalRatio: DEFAULT_EVAL_RATIO, valRatio: DEFAULT_VAL_RATIO, classCounts: {...DEFAULT_CLASS_COUNTS}}

describe('curated subset and stratified split', () => {
  let big: Awaited<ReturnType<typeof repeatedFixture>>
  before(async () => {
    // 8 × the fixture's 500 real digits per class: enough for the SPEC's 3,500 eights.
    big = await repeatedFixture(8)
  })

  it('gives the SPEC counts for the defaults: eval 1,000, val 600, train 3,400, proportions kept', () => {
    const dataset = buildCuratedDataset(big.images, big.labels, defaults)
    const summary = describeSplits(dataset)
    expect(summary.eval.per_class).to.deep.equal({0: 240, 5: 60, 8: 700})
    expect(summary.val.per_class).to.deep.equal({0: 144, 5: 36, 8: 420})
    expect(summary.train.per_class).to.deep.equal({0: 816, 5: 204, 8: 2380})
    expect([summary.eval.size, summary.val.size, summary.train.size]).to.deep.equal([1000, 600, 3400])
  })

  it('makes disjoint splits whose labels match the source', () => {
    const dataset = buildCuratedDataset(big.images, big.labels, defaults)
    const all = [...dataset.splits.train.indices, ...dataset.splits.val.indices, ...dataset.splits.eval.indices]
    expect(new Set(all).size).to.equal(5000)
    for (const split of Object.values(dataset.splits)) {
      for (const [i, index] of split.indices.entries()) expect(big.labels[index]).to.equal(split.labels[i])
    }
  })

  it('is deterministic for a seed and different for another seed', () => {
    const a = buildCuratedDataset(big.images, big.labels, defaults)
    const b = buildCuratedDataset(big.images, big.labels, defaults)
    const c = buildCuratedDataset(big.images, big.labels, {...defaults, seed: 42})
    expect(a.splits).to.deep.equal(b.splits)
    expect(a.fingerprints).to.deep.equal(b.fingerprints)
    expect(c.fingerprints.eval).to.not.equal(a.fingerprints.eval)
    expect(c.fingerprints.train).to.not.equal(a.fingerprints.train)
  })

  it('gives the same fingerprints in another process (no hidden state, no Math.random)', async () => {
    const here = await loadCuratedDataset({dataDir: FIXTURE_DIR, classCounts: {8: 350, 0: 120, 5: 30}})
    const script = `
      import {loadCuratedDataset} from './src/data/dataset.ts'
      const d = await loadCuratedDataset({dataDir: ${JSON.stringify(FIXTURE_DIR)}, classCounts: {8: 350, 0: 120, 5: 30}})
      console.log(JSON.stringify(d.fingerprints))`
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {cwd: ROOT, encoding: 'utf8'})
    expect(JSON.parse(out)).to.deep.equal(here.fingerprints)
    // Pinned: a change to the generator, the curation or the split shows up here.
    expect(here.fingerprints).to.deep.equal(FIXTURE_FINGERPRINTS)
  })

  it('changes the fingerprint when the data changes', () => {
    const dataset = buildCuratedDataset(big.images, big.labels, defaults)
    const pixels = big.images.pixels.slice()
    const index = dataset.splits.eval.indices[0]
    pixels[index * 784 + 300] ^= 0xff
    const changed = buildCuratedDataset({...big.images, pixels}, big.labels, defaults)
    expect(changed.fingerprints.eval).to.not.equal(dataset.fingerprints.eval)
    expect(changed.fingerprints.train).to.equal(dataset.fingerprints.train)
  })

  it('normalises with training statistics only', () => {
    const dataset = buildCuratedDataset(big.images, big.labels, defaults)
    const norm = computeNormalization(dataset.source, dataset.splits.train)
    expect(norm.mean).to.be.within(0.1, 0.2)
    expect(norm.std).to.be.within(0.25, 0.4)
    const {x, y} = splitTensors(dataset.source, dataset.splits.train, norm, [0, 5, 8])
    let sum = 0
    for (const v of x) sum += v
    expect(Math.abs(sum / x.length)).to.be.lessThan(1e-4)
    expect(y.length).to.equal(3400)
    expect(new Set(y)).to.deep.equal(new Set([0, 1, 2]))
  })

  it('explains impossible requests in one line', async () => {
    // The library names no flag: the error carries the setting and the counts that fit, for the front end to word.
    expect(() => buildCuratedDataset(big.images, big.labels, {...defaults, classCounts: {8: 5000, 0: 10, 5: 10}}))
      .to.throw(
        NotEnoughImages,
        /^the class counts ask for more images than the data holds \(class 8: 5000 asked, 4000 held\); e.g. 0=8,5=8,8=4000 fits \(the same proportions, within what every class holds\), or all$/,
      )
      .with.property('suggestion')
      .that.deep.equals({0: 8, 5: 8, 8: 4000})
    expect(() => buildCuratedDataset(big.images, big.labels, {...defaults, evalRatio: 1}))
      .to.throw(UserError, /^must be between 0 and 1/)
      .with.property('setting', 'eval_ratio')
    expect(() => buildCuratedDataset(big.images, big.labels, {...defaults, valRatio: 0}))
      .to.throw(UserError, /^must be between 0 and 1/)
      .with.property('setting', 'val_ratio')
    expect(() => buildCuratedDataset(big.images, big.labels, {...defaults, classCounts: {8: 1, 0: 1, 5: 1}})).to.throw(
      UserError,
      /would be empty|no training images/,
    )
    await expectUserRejection(loadCuratedDataset({dataDir: join(ROOT, 'nowhere')}), /not found; run `digit-classification download-data/)
  })

  it('suggests class counts in the asked proportions that every class can supply', () => {
    const sample = {0: 500, 5: 500, 8: 500}
    expect(suggestClassCounts({8: 3500, 0: 1200, 5: 300}, sample)).to.deep.equal({0: 171, 5: 42, 8: 500})
    // The scarcest class sets the scale, whichever it is; nothing drops below 1.
    expect(suggestClassCounts({8: 3500, 0: 1200, 5: 300}, {0: 2000, 5: 30, 8: 9000})).to.deep.equal({0: 120, 5: 30, 8: 350})
    // Never below the 3 images a class needs to keep one for training at the default ratios (1 would fail the split).
    expect(suggestClassCounts({8: 1000, 0: 1, 5: 1}, {0: 5, 5: 5, 8: 10})).to.deep.equal({0: 3, 5: 3, 8: 10})
    expect(suggestClassCounts({8: 1000, 0: 1, 5: 1}, {0: 2, 5: 5, 8: 10})).to.equal(undefined)
    // Counts that already fit stay as they are.
    expect(suggestClassCounts({8: 70, 0: 24, 5: 6}, sample)).to.deep.equal({0: 24, 5: 6, 8: 70})
    expect(suggestClassCounts({8: 70, 0: 24, 5: 6}, {0: 24, 5: 0, 8: 70})).to.equal(undefined)
    expect(() => curateSubset(new Uint8Array([0, 8, 8]), {8: 1, 0: 1, 5: 1}, new Rng(1))).to.throw(UserError, /data has no image of class 5/)
  })

  it('parses class counts and rejects unknown classes', () => {
    expect(parseClassCounts('8=3500,0=1200,5=300')).to.deep.equal({8: 3500, 0: 1200, 5: 300})
    expect(formatClassCounts({8: 3500, 0: 1200, 5: 300})).to.equal('0=1200,5=300,8=3500')
    expect(() => parseClassCounts('8=10,0=5,3=1', [0, 5, 8])).to.throw(UserError, /class 3 is not one of the classes 0, 5, 8/)
    expect(() => parseClassCounts('8=10,0=5', [0, 5, 8])).to.throw(UserError, /missing class 5/)
    expect(parseClassCounts('3=600,8=600')).to.deep.equal({3: 600, 8: 600})
    expect(() => parseClassCounts('12=5')).to.throw(UserError, /12 is not a digit/)
    expect(() => parseClassCounts('8=10,8=5,0=1,5=1')).to.throw(UserError, /given twice/)
    expect(() => parseClassCounts('8:10')).to.throw(UserError, /is not LABEL=COUNT/)
    expect(() => parseClassCounts('8=0,0=1,5=1')).to.throw(UserError, /at least 1/)
  })

  it('allocates held-out counts by largest remainder', () => {
    expect(allocate([3500, 1200, 300], 0.2)).to.deep.equal([700, 240, 60])
    expect(allocate([10, 10, 1], 0.5)).to.deep.equal([5, 5, 1])
    expect(allocate([7, 3], 0.15)).to.deep.equal([1, 1])
  })
})

const FIXTURE_FINGERPRINTS = {train: '93e5b93155e8527f', val: 'f707c9d2483ac771', eval: '6ae5c4dce946c167'}
