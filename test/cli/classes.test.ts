import {expect} from 'chai'
import {copyFileSync, mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Jimp} from 'jimp'

import {PIXELS} from '../../src/config.js'
import {ExportSummarySchema} from '../../src/model/export.js'
import {loadCheckpoint} from '../../src/model/checkpoint.js'
import {cli, oneErrorLine} from '../helpers/cli.js'
import {FIXTURE_DIR, readFixture, writeStandInTestSet} from '../helpers/fixtures.js'

/** A fixture digit of `label` as a PNG file (white ink on black, as MNIST stores it). */
async function digitPng(dir: string, label: number, nth = 0): Promise<string> {
  const {images, labels} = await readFixture()
  const index = [...labels.keys()].filter((i) => labels[i] === label)[nth]
  const image = new Jimp({width: 28, height: 28, color: 0x000000ff})
  for (let p = 0; p < PIXELS; p++) {
    const v = images.pixels[index * PIXELS + p]
    image.bitmap.data.set([v, v, v, 255], p * 4)
  }

  const file = join(dir, `digit-${label}.png`)
  await image.write(file as `${string}.png`)
  return file
}

/** The fixtures as a data folder with a stand-in t10k set: the fixture's digits, then copies of a 1 up to the official 10,000. */
async function dataWithTestSet(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'classes-data-'))
  for (const [from, to] of [
    ['train-images-idx3-ubyte.gz', 'train-images-idx3-ubyte.gz'],
    ['train-labels-idx1-ubyte.gz', 'train-labels-idx1-ubyte.gz'],
  ]) {
    copyFileSync(join(FIXTURE_DIR, from), join(dir, to))
  }

  await writeStandInTestSet(dir)

  return dir
}

describe('any set of digits from the command line: --classes', function () {
  this.timeout(600_000)
  let data: string

  before(async () => {
    data = await dataWithTestSet()
  })

  describe('a two-digit model (--classes 3,8)', () => {
    let out: string
    let ckpt: string
    let train: Awaited<ReturnType<typeof cli>>

    before(async () => {
      out = mkdtempSync(join(tmpdir(), 'classes-two-'))
      // The fixtures hold 40 threes: every one of them, and as many eights.
      train = await cli([
        'train',
        '--data-dir',
        data,
        '--output-dir',
        out,
        '--classes',
        '3,8',
        '--class-counts',
        '3=40,8=40',
        '--epochs',
        '3',
        '--num-workers',
        '1',
      ])
      ckpt = join(out, 'best.ckpt')
    })

    it('trains a network with two outputs, recorded in config.json, the checkpoint and the artifacts', async () => {
      expect(train.code, train.stderr).to.equal(0)
      expect(train.stderr).to.match(/classes: 3, 8/)
      expect(train.stderr).to.match(/dense +\[B, 2\]/)
      const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
      expect(config).to.deep.include({schema_version: 1, classes: [3, 8], class_counts: {3: 40, 8: 40}})
      const checkpoint = await loadCheckpoint(ckpt)
      expect(checkpoint.header.classes).to.deep.equal([3, 8])
      expect(checkpoint.values['dense.bias']).to.have.length(2)
      const predictions = JSON.parse(readFileSync(join(out, 'predictions.json'), 'utf8'))
      expect(predictions).to.include({dataset: 'mnist_38', num_classes: 2})
      expect(predictions.classes).to.deep.equal([3, 8])
      expect(predictions.samples[0].probabilities).to.have.length(2)
      const metadata = JSON.parse(readFileSync(join(out, 'run_metadata.json'), 'utf8'))
      expect(metadata.dataset).to.deep.include({name: 'mnist_38', num_classes: 2, classes: [3, 8], class_counts: {3: 40, 8: 40}})
      const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'))
      expect(metrics.classes).to.deep.equal([3, 8])
      expect(Object.keys(metrics.classification_report.per_class)).to.deep.equal(['3', '8'])
    })

    it("evaluates with two class rows, and --split test takes the test set's threes and eights only", async () => {
      const table = await cli(['evaluate', '--checkpoint-path', ckpt, '--data-dir', data])
      expect(table.code, table.stderr).to.equal(0)
      const rows = table.stdout.split('\n').filter((line) => /^\s+\d\s+\d\.\d{4}/.test(line))
      expect(rows.map((line) => line.trim()[0])).to.deep.equal(['3', '8'])
      expect(table.stdout).to.match(/│ true 3 │/)
      expect(table.stdout).to.not.match(/true 0|pred 5/)
      const run = await cli(['evaluate', '--checkpoint-path', ckpt, '--data-dir', data, '--split', 'test', '--json'])
      expect(run.code, run.stderr).to.equal(0)
      const {report} = JSON.parse(run.stdout)
      expect(report.labels).to.deep.equal([3, 8])
      // The stand-in test set holds 40 threes and 500 eights.
      expect(report.per_class['3'].support).to.equal(40)
      expect(report.per_class['8'].support).to.equal(500)
      expect(report.confusion_matrix).to.have.length(2)
    })

    it('predicts JSON keyed by its two digits', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'classes-img-'))
      const run = await cli(['predict', '--checkpoint-path', ckpt, '--input-path', await digitPng(dir, 3, 7)])
      expect(run.code, run.stderr).to.equal(0)
      const answer = JSON.parse(run.stdout)
      expect(Object.keys(answer.probs)).to.deep.equal(['3', '8'])
      expect(answer.prediction).to.be.oneOf([3, 8])
    })

    it('exports a Layers model with two output units and its classes in the metadata', async () => {
      const folder = mkdtempSync(join(tmpdir(), 'classes-export-'))
      const run = await cli(['export', '--checkpoint-path', ckpt, '--output-dir', folder])
      expect(run.code, run.stderr).to.equal(0)
      expect(ExportSummarySchema.parse(JSON.parse(run.stdout))).to.deep.include({output_dir: folder})
      const model = JSON.parse(readFileSync(join(folder, 'model.json'), 'utf8'))
      expect(model.userDefinedMetadata.classes).to.deep.equal([3, 8])
      const layers = model.modelTopology.model_config?.config.layers ?? model.modelTopology.config.layers
      expect(layers.at(-1).config.units).to.equal(2)
    })

    it('refuses to change the digits on --resume, and counts that do not name them', async () => {
      expect(oneErrorLine(await cli(['train', '--data-dir', data, '--output-dir', out, '--resume', '--classes', '3,7']))).to.match(
        /--classes: cannot change on --resume \(last\.ckpt was trained with 3,8;/,
      )
      const never = join(out, 'never')
      expect(oneErrorLine(await cli(['train', '--data-dir', data, '--output-dir', never, '--classes', '3,8', '--class-counts', '3=10,7=10']))).to.match(
        /--class-counts: class 7 is not one of the classes 3, 8/,
      )
      expect(oneErrorLine(await cli(['train', '--data-dir', data, '--output-dir', never, '--classes', '3']))).to.match(/--classes: give at least 2 digits/)
    })
  })

  describe('a ten-digit model (--classes 0-9 --class-counts all)', () => {
    let out: string
    let train: Awaited<ReturnType<typeof cli>>

    before(async () => {
      out = mkdtempSync(join(tmpdir(), 'classes-ten-'))
      train = await cli(['train', '--data-dir', data, '--output-dir', out, '--classes', '0-9', '--class-counts', 'all', '--epochs', '2', '--num-workers', '1'])
    })

    it('trains on every fixture image, and evaluates, predicts and exports with ten classes', async () => {
      expect(train.code, train.stderr).to.equal(0)
      const metadata = JSON.parse(readFileSync(join(out, 'run_metadata.json'), 'utf8'))
      expect(metadata.dataset).to.deep.include({name: 'mnist', num_classes: 10})
      expect(metadata.dataset.train_size + metadata.dataset.val_size + metadata.dataset.test_size).to.equal(1780)
      expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).class_counts).to.equal('all')
      const ckpt = join(out, 'best.ckpt')
      const evaluation = await cli(['evaluate', '--checkpoint-path', ckpt, '--data-dir', data, '--split', 'test', '--json'])
      expect(evaluation.code, evaluation.stderr).to.equal(0)
      const {report} = JSON.parse(evaluation.stdout)
      expect(report.labels).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      // Every stand-in test image is one of the ten digits: the fixture's 1,780 and the copies of a 1.
      expect(report.total).to.equal(10_000)
      expect(report.confusion_matrix).to.have.length(10)
      const dir = mkdtempSync(join(tmpdir(), 'classes-img-'))
      const predict = await cli(['predict', '--checkpoint-path', ckpt, '--input-path', await digitPng(dir, 7)])
      expect(predict.code, predict.stderr).to.equal(0)
      expect(Object.keys(JSON.parse(predict.stdout).probs)).to.deep.equal(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
      const folder = mkdtempSync(join(tmpdir(), 'classes-export-'))
      const exported = await cli(['export', '--checkpoint-path', ckpt, '--output-dir', folder])
      expect(exported.code, exported.stderr).to.equal(0)
      expect(JSON.parse(readFileSync(join(folder, 'model.json'), 'utf8')).userDefinedMetadata.classes).to.have.length(10)
    })
  })
})
