import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import {copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Jimp} from 'jimp'

import {EvaluateOutputSchema, TrainSummarySchema} from '../../src/artifacts/outputs.js'
import {classificationReport} from '../../src/evaluation/metrics.js'
import {loadCheckpoint} from '../../src/model/checkpoint.js'
import {loadPredictor} from '../../src/model/predictor.js'
import {loadCuratedDataset, splitTensors} from '../../src/data/dataset.js'
import {cli, oneErrorLine} from '../helpers/cli.js'
import {FIXTURE_DIR, ROOT, writeStandInTestSet} from '../helpers/fixtures.js'

const COUNTS = '8=140,0=48,5=12'

/** A data folder whose t10k files hold 10,000 images: the fixture's, then copies of its first 1 (no split has that class). */
async function standInTestSet(): Promise<string> {
  const data = mkdtempSync(join(tmpdir(), 'with-test-'))
  await writeStandInTestSet(data)
  return data
}

describe('train, evaluate and predict from the command line', function () {
  this.timeout(300_000)
  let out: string
  let ckpt: string
  let trainRun: Awaited<ReturnType<typeof cli>>

  before(async () => {
    out = mkdtempSync(join(tmpdir(), 'cli-train-'))
    const config = join(out, 'recipe.json')
    // The file says 4 epochs and seed 5; the command line's --epochs wins, the seed comes from the file.
    writeFileSync(config, JSON.stringify({epochs: 4, seed: 5, 'class-counts': COUNTS}))
    trainRun = await cli([
      'train',
      '--data-dir',
      FIXTURE_DIR,
      '--output-dir',
      out,
      '--config',
      config,
      '--epochs',
      '2',
      '--num-workers',
      '1',
      '--run-name',
      'cli-test',
    ])
    ckpt = join(out, 'best.ckpt')
  })

  it('train prints a JSON summary on stdout and progress on stderr', () => {
    expect(trainRun.code, trainRun.stderr).to.equal(0)
    const summary = TrainSummarySchema.parse(JSON.parse(trainRun.stdout))
    expect(summary.epochs).to.equal(2)
    expect(summary.run_name).to.equal('cli-test')
    expect(summary.files).to.include('best.ckpt')
    expect(trainRun.stderr).to.match(/backend: wasm/)
    expect(trainRun.stderr).to.match(/epoch 2\/2 .*val_f1_macro/)
    const metadata = JSON.parse(readFileSync(join(out, 'run_metadata.json'), 'utf8'))
    expect(metadata.training_config.seed).to.equal(5)
    expect(metadata.training_config.epochs).to.equal(2)
  })

  it('train --config <run>/config.json reproduces the run: same weights, same metrics', async () => {
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'))
    expect(config).to.include({schema_version: 1, seed: 5, epochs: 2, run_name: 'cli-test', num_workers: 1})
    const again = mkdtempSync(join(tmpdir(), 'cli-again-'))
    const run = await cli(['train', '--data-dir', FIXTURE_DIR, '--output-dir', again, '--config', join(out, 'config.json')])
    expect(run.code, run.stderr).to.equal(0)
    expect(readFileSync(join(again, 'config.json'), 'utf8')).to.equal(readFileSync(join(out, 'config.json'), 'utf8'))
    const [a, b] = await Promise.all([loadCheckpoint(join(out, 'best.ckpt')), loadCheckpoint(join(again, 'best.ckpt'))])
    for (const name of Object.keys(a.values)) expect(Buffer.from(a.values[name].buffer).equals(Buffer.from(b.values[name].buffer)), name).to.equal(true)
    expect(JSON.parse(readFileSync(join(again, 'metrics.json'), 'utf8'))).to.deep.equal(JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')))
  })

  it("a run's files read by a script written only from the original demo's documented shapes", async () => {
    const script = join(ROOT, 'test', 'helpers', 'read-original-run.mjs')
    const result = spawnSync(process.execPath, [script, out], {encoding: 'utf8'})
    expect(result.status, result.stderr).to.equal(0)
    const summary = JSON.parse(result.stdout)
    expect(summary).to.include({run_name: 'cli-test', epochs: 2, num_epochs: 2, test_size: 40, samples: 40, stats_source: 'train'})
    expect(summary.accuracy_of_samples).to.be.closeTo(summary.test_accuracy, 1e-12)
    const copy = mkdtempSync(join(tmpdir(), 'cli-shapes-'))
    for (const file of ['loss_curves.json', 'predictions.json', 'metrics.json']) copyFileSync(join(out, file), join(copy, file))
    writeFileSync(join(copy, 'run_metadata.json'), JSON.stringify({run_name: 'x', generated_at: new Date().toISOString()}))
    const broken = spawnSync(process.execPath, [script, copy], {encoding: 'utf8'})
    expect(broken.status).to.equal(1)
    expect(broken.stderr).to.match(/run_metadata\.json dataset\./)
  })

  it('train rejects impossible flags and bad recipes in one line', async () => {
    const base = ['train', '--data-dir', FIXTURE_DIR, '--output-dir', join(out, 'never')]
    expect(oneErrorLine(await cli([...base, '--epochs', '21']))).to.match(/--epochs: epochs must be at most 20/)
    expect(oneErrorLine(await cli([...base, '--eval-ratio', '1.5']))).to.match(/--eval-ratio: eval-ratio must be between 0 and 1/)
    expect(oneErrorLine(await cli([...base, '--class-counts', '8=10,0=5,4=2']))).to.match(/class 4 is not one of the classes 0, 5, 8/)
    expect(oneErrorLine(await cli([...base, '--class-counts', '8=900,0=5,5=2']))).to.match(
      /\(class 8: 900 asked, 500 held\); use e.g. --class-counts 0=3,5=3,8=500 /,
    )
    const bad = join(out, 'bad.json')
    writeFileSync(bad, JSON.stringify({epochz: 3}))
    expect(oneErrorLine(await cli([...base, '--config', bad]))).to.match(/bad\.json: key "epochz": unknown key/)
    writeFileSync(bad, JSON.stringify({'learning-rate': 'fast'}))
    expect(oneErrorLine(await cli([...base, '--config', bad]))).to.match(/bad\.json: key "learning-rate": .*number/)
    writeFileSync(bad, '{not json')
    expect(oneErrorLine(await cli([...base, '--config', bad]))).to.match(/is not valid JSON/)
    expect(oneErrorLine(await cli([...base, '--backend', 'node', '--class-counts', COUNTS]))).to.match(/tfjs-node.*npm install @tensorflow\/tfjs-node/)
  })

  it('evaluate prints the report and confusion matrix; --json equals an independent computation', async () => {
    const table = await cli(['evaluate', '--checkpoint-path', ckpt, '--data-dir', FIXTURE_DIR])
    expect(table.code, table.stderr).to.equal(0)
    expect(table.stdout).to.match(/precision\s+recall\s+f1-score\s+support/)
    expect(table.stdout).to.match(/macro avg/)
    expect(table.stdout).to.match(/true 8|8/)
    expect(table.stderr).to.match(/images\/s/)

    const run = await cli(['evaluate', '--checkpoint-path', ckpt, '--data-dir', FIXTURE_DIR, '--json'])
    const {report} = EvaluateOutputSchema.parse(JSON.parse(run.stdout))
    // The report has the keys of metrics.json's classification_report, which is the evaluation split's.
    expect(Object.keys(report).sort()).to.deep.equal(Object.keys(JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')).classification_report).sort())
    expect(report.total).to.equal(40)
    // Independently: rebuild the split, predict with the library, count by hand.
    const predictor = await loadPredictor(ckpt, {backend: 'wasm'})
    const dataset = await loadCuratedDataset({dataDir: FIXTURE_DIR, seed: 5, classCounts: {8: 140, 0: 48, 5: 12}})
    const {x} = splitTensors(dataset.source, dataset.splits.eval, predictor.checkpoint.header.normalization, [0, 5, 8])
    const probs = await predictor.probabilities(x)
    const predicted = dataset.splits.eval.labels.map((_, i) => [0, 5, 8][[0, 1, 2].reduce((b, c) => (probs[i * 3 + c] > probs[i * 3 + b] ? c : b), 0)])
    const expected = classificationReport(dataset.splits.eval.labels, predicted, [0, 5, 8])
    expect(report.confusion_matrix).to.deep.equal(expected.confusion_matrix)
    expect(report.macro_avg.f1).to.be.closeTo(expected.macro_avg.f1, 1e-12)
    predictor.dispose()
  })

  it("evaluate --split test reads the t10k files; --output-dir writes that split's artifacts", async () => {
    // A stand-in t10k set of the official size: the fixture's digits, then copies of a 1 (a class no split holds) up to 10,000 images.
    const data = await standInTestSet()
    const artifacts = join(out, 'test-artifacts')
    const run = await cli([
      'evaluate',
      '--checkpoint-path',
      ckpt,
      '--data-dir',
      data,
      '--split',
      'test',
      '--json',
      '--output-dir',
      artifacts,
      '--roc-per-class',
    ])
    expect(run.code, run.stderr).to.equal(0)
    const {report, split} = JSON.parse(run.stdout)
    expect(split).to.equal('test')
    // Every 0, 5 and 8 of the file: 500 each.
    expect(report.total).to.equal(1500)
    expect(report.per_class['5'].support).to.equal(500)
    for (const file of ['predictions_test.json', 'confusion_matrix_test.png', 'gallery_test.png', 'roc_curves_test.json', 'roc_curves_test.png']) {
      expect(readFileSync(join(artifacts, file)).length, file).to.be.greaterThan(100)
    }

    const predictions = JSON.parse(readFileSync(join(artifacts, 'predictions_test.json'), 'utf8'))
    expect(predictions.dataset_file).to.equal('t10k-images-idx3-ubyte.gz')
    expect(predictions.samples).to.have.length(1500)
  })

  it('evaluate --split test refuses t10k files that are not the official test set (train and test files swapped)', async () => {
    const swapped = mkdtempSync(join(tmpdir(), 'swapped-'))
    copyFileSync(join(FIXTURE_DIR, 'train-images-idx3-ubyte.gz'), join(swapped, 't10k-images-idx3-ubyte.gz'))
    copyFileSync(join(FIXTURE_DIR, 'train-labels-idx1-ubyte.gz'), join(swapped, 't10k-labels-idx1-ubyte.gz'))
    const run = await cli(['evaluate', '--checkpoint-path', ckpt, '--data-dir', swapped, '--split', 'test'])
    expect(oneErrorLine(run)).to.equal(
      `Error: t10k-images-idx3-ubyte.gz in ${swapped} holds 1,780 images, not the 10,000 of the official MNIST test set (are the training and test files swapped?); run download-data --data-dir ${swapped} again`,
    )
    expect(run.stdout).to.equal('')
  })

  it('evaluate refuses other data, a corrupt checkpoint and a missing test set', async () => {
    const other = mkdtempSync(join(tmpdir(), 'other-data-'))
    const images = readFileSync(join(FIXTURE_DIR, 'train-images-idx3-ubyte.gz'))
    const {gunzipSync, gzipSync} = await import('node:zlib')
    const raw = gunzipSync(images)
    // Same labels, slightly different pixels in every image: a different data set.
    for (let offset = 16 + 400; offset < raw.length; offset += 784) raw[offset] ^= 0xff
    writeFileSync(join(other, 'train-images-idx3-ubyte.gz'), gzipSync(raw))
    copyFileSync(join(FIXTURE_DIR, 'train-labels-idx1-ubyte.gz'), join(other, 'train-labels-idx1-ubyte.gz'))
    expect(oneErrorLine(await cli(['evaluate', '--checkpoint-path', ckpt, '--data-dir', other, '--split', 'val']))).to.match(
      /the val split rebuilt from .* is not the one this checkpoint was trained with/,
    )
    const broken = join(out, 'broken.ckpt')
    const bytes = readFileSync(ckpt)
    writeFileSync(broken, bytes.subarray(0, bytes.length - 1000))
    expect(oneErrorLine(await cli(['evaluate', '--checkpoint-path', broken, '--data-dir', FIXTURE_DIR]))).to.match(
      /broken\.ckpt is not a usable checkpoint: it is truncated or corrupted/,
    )
    expect(oneErrorLine(await cli(['evaluate', '--checkpoint-path', ckpt, '--data-dir', FIXTURE_DIR, '--split', 'test']))).to.match(
      /t10k-images-idx3-ubyte\.gz not found/,
    )
  })

  it("predict prints the SPEC object for sample.png (the original's keys first), JSON Lines for several inputs", async () => {
    const one = await cli(['predict', '--checkpoint-path', ckpt, '--input-path', join(ROOT, 'sample.png')])
    expect(one.code, one.stderr).to.equal(0)
    const result = JSON.parse(one.stdout)
    expect(Object.keys(result).slice(0, 4)).to.deep.equal(['probs', 'prediction', 'confidence', 'known'])
    expect(Object.keys(result)).to.have.length(result.known ? 4 : 5)
    expect(Object.keys(result.probs)).to.deep.equal(['0', '5', '8'])
    expect(result.probs['0'] + result.probs['5'] + result.probs['8']).to.be.closeTo(1, 1e-3)
    expect([0, 5, 8]).to.include(result.prediction)

    const dir = mkdtempSync(join(tmpdir(), 'predict-'))
    const big = new Jimp({width: 300, height: 300, color: 0xffffffff})
    const sample = await Jimp.read(join(ROOT, 'sample.png'))
    sample.resize({w: 200, h: 200}).invert()
    big.composite(sample, 60, 40)
    await big.write(join(dir, 'big.jpg') as `${string}.jpg`)
    writeFileSync(join(dir, 'empty.png'), '')
    const several = await cli(['predict', '--checkpoint-path', ckpt, '--input-path', join(ROOT, 'sample.png'), '--input-path', dir])
    expect(several.code).to.equal(1)
    const lines = several.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(lines.map((l) => l.path)).to.deep.equal([join(ROOT, 'sample.png'), join(dir, 'big.jpg')])
    expect(several.stderr.trim().split('\n')).to.have.length(1)
    expect(several.stderr).to.match(/empty\.png/)

    // --json: the same answers as one JSON array, the unreadable input among them with its error.
    const asJson = await cli(['predict', '--checkpoint-path', ckpt, '--input-path', join(ROOT, 'sample.png'), '--input-path', dir, '--json'])
    expect(asJson.code).to.equal(1)
    const answers = JSON.parse(asJson.stdout) as Array<{path: string; error?: string}>
    expect(answers.filter((a) => !a.error)).to.deep.equal(lines)
    expect(answers.map((a) => a.path).sort()).to.deep.equal([join(ROOT, 'sample.png'), join(dir, 'big.jpg'), join(dir, 'empty.png')].sort())
    expect(answers.find((a) => a.path === join(dir, 'empty.png'))?.error).to.match(/empty\.png/)

    const piped = await cli(['predict', '--checkpoint-path', ckpt, '--input-path', '-'], {stdin: readFileSync(join(ROOT, 'sample.png'))})
    expect(JSON.parse(piped.stdout)).to.deep.equal(result)
  })

  it('predict reports a missing file and a missing checkpoint in one line', async () => {
    expect(oneErrorLine(await cli(['predict', '--checkpoint-path', ckpt, '--input-path', join(out, 'nope.png')]))).to.match(/nope\.png/)
    expect(oneErrorLine(await cli(['predict', '--checkpoint-path', join(out, 'nope.ckpt'), '--input-path', join(ROOT, 'sample.png')]))).to.match(
      /checkpoint .*nope\.ckpt not found/,
    )
  })

  it('train refuses a folder that holds a run; --force replaces it and its stale files; a file is no folder', async () => {
    expect(oneErrorLine(await cli(['train', '--data-dir', FIXTURE_DIR, '--output-dir', out, '--class-counts', COUNTS]))).to.match(
      /already holds a run .*continue it with --resume, replace it with --force/,
    )
    const dir = mkdtempSync(join(tmpdir(), 'cli-force-'))
    writeFileSync(join(dir, 'roc_curves.png'), 'stale')
    writeFileSync(join(dir, 'notes.txt'), 'mine')
    const forced = await cli(['train', '--data-dir', FIXTURE_DIR, '--output-dir', dir, '--class-counts', COUNTS, '--epochs', '1', '--force'])
    expect(forced.code, forced.stderr).to.equal(0)
    expect(existsSync(join(dir, 'roc_curves.png'))).to.equal(false)
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).to.equal('mine')
    expect(oneErrorLine(await cli(['train', '--data-dir', FIXTURE_DIR, '--output-dir', join(dir, 'notes.txt'), '--class-counts', COUNTS]))).to.match(
      /cannot (use|create) .*notes\.txt.*choose another --output-dir/,
    )
  })

  it("train --resume continues with the checkpoint's own settings and name", async () => {
    const run = await cli(['train', '--data-dir', FIXTURE_DIR, '--output-dir', out, '--resume', '--epochs', '3'])
    expect(run.code, run.stderr).to.equal(0)
    expect(run.stderr).to.match(/resuming after epoch 2/)
    const summary = JSON.parse(run.stdout)
    expect(summary.epochs).to.equal(3)
    expect(summary.run_name).to.equal('cli-test')
    const metadata = JSON.parse(readFileSync(join(out, 'run_metadata.json'), 'utf8'))
    expect(metadata.training_config.seed).to.equal(5)
    expect(metadata.dataset.class_counts).to.deep.equal({0: 48, 5: 12, 8: 140})
  })

  it('train --resume applies a new learning rate from the next epoch and records it; refuses a new seed or batch size in one line', async () => {
    const run = await cli(['train', '--data-dir', FIXTURE_DIR, '--output-dir', out, '--resume', '--epochs', '4', '--learning-rate', '0.01'])
    expect(run.code, run.stderr).to.equal(0)
    const rows = readFileSync(join(out, 'logs', 'metrics.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(','))
    expect(rows.map((row) => Number(row[0]))).to.deep.equal([1, 2, 3, 4])
    expect(Number(rows[3][6]), 'learning rate of epoch 4').to.equal(0.01)
    expect(Number(rows[2][6]), 'learning rate of epoch 3').to.be.at.most(0.001)
    const metadata = JSON.parse(readFileSync(join(out, 'run_metadata.json'), 'utf8'))
    expect(metadata.training_config.learning_rate).to.equal(0.01)
    expect(oneErrorLine(await cli(['train', '--data-dir', FIXTURE_DIR, '--output-dir', out, '--resume', '--epochs', '5', '--seed', '6']))).to.match(
      /--seed: cannot change on --resume \(last\.ckpt was trained with 5;/,
    )
    expect(oneErrorLine(await cli(['train', '--data-dir', FIXTURE_DIR, '--output-dir', out, '--resume', '--epochs', '5', '--batch-size', '8']))).to.match(
      /--batch-size: cannot change on --resume \(last\.ckpt was trained with 32;/,
    )
  })
})
