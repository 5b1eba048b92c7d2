import {expect} from 'chai'
import {copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {decodeImage, preprocessBytes} from '../../src/images/preprocess.js'
import {savedInputStem} from '../../src/images/save-input.js'
import {cli} from '../helpers/cli.js'
import {FIXTURE_DIR, ROOT} from '../helpers/fixtures.js'

describe('predict --save-input', function () {
  this.timeout(300_000)
  let ckpt: string

  before(async () => {
    const out = mkdtempSync(join(tmpdir(), 'save-input-run-'))
    const run = await cli(['train', '--data-dir', FIXTURE_DIR, '--output-dir', out, '--class-counts', '8=60,0=30,5=12', '--epochs', '1', '--num-workers', '1'])
    expect(run.code, run.stderr).to.equal(0)
    ckpt = join(out, 'best.ckpt')
  })

  it('writes the 28×28 image each input became, named after it, never over an existing file', async () => {
    const inputs = mkdtempSync(join(tmpdir(), 'save-input-in-'))
    mkdirSync(join(inputs, 'more'))
    copyFileSync(join(ROOT, 'sample.png'), join(inputs, 'sample.png'))
    copyFileSync(join(ROOT, 'sample.png'), join(inputs, 'more', 'sample.png'))
    const seen = join(mkdtempSync(join(tmpdir(), 'save-input-out-')), 'seen')
    mkdirSync(seen)
    writeFileSync(join(seen, 'sample.png'), 'kept')
    const run = await cli([
      'predict',
      '--checkpoint-path',
      ckpt,
      '--input-path',
      join(inputs, 'sample.png'),
      '--input-path',
      join(inputs, 'more', 'sample.png'),
      '--save-input',
      seen,
    ])
    expect(run.code, run.stderr).to.equal(0)
    expect(readdirSync(seen).sort()).to.deep.equal(['sample-2.png', 'sample-3.png', 'sample.png'])
    expect(readFileSync(join(seen, 'sample.png'), 'utf8')).to.equal('kept')
    const expected = (await preprocessBytes(readFileSync(join(ROOT, 'sample.png')), 'sample.png', {preprocess: true})).pixels
    for (const file of ['sample-2.png', 'sample-3.png']) {
      const saved = await decodeImage(readFileSync(join(seen, file)), file)
      expect([saved.width, saved.height]).to.deep.equal([28, 28])
      for (let i = 0; i < 784; i++) expect(saved.data[i]).to.be.closeTo(expected[i], 1 / 255)
    }
  })

  it('makes safe file names from paths, URLs and stdin', () => {
    expect(savedInputStem('photos/my digit (1).jpg')).to.equal('my_digit_1_')
    expect(savedInputStem('https://example.com/a/../seven.png?x=1')).to.equal('seven')
    expect(savedInputStem('-')).to.equal('stdin')
    expect(savedInputStem('..')).to.equal('input')
    expect(savedInputStem('C:\\scans\\.hidden.png')).to.equal('hidden')
  })
})
