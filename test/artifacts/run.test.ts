import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {access, mkdtemp, readFile, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {buildRocCurves} from '../../src/artifacts/build.js'
import {writeJsonArtifact} from '../../src/artifacts/write.js'
import {type RunData, writeEvaluationArtifacts, writeRunArtifacts} from '../../src/artifacts/run.js'
import {
  type ArtifactFile,
  LossCurvesSchema,
  MetricsSchema,
  PredictionsSchema,
  RocCurvesSchema,
  RunMetadataSchema,
  TimingStatsSchema,
  TrainingDynamicsSchema,
} from '../../src/artifacts/schemas.js'
import {DEFAULT_CLASSES, MNIST_FILES, PIXELS} from '../../src/config.js'
import {UserError} from '../../src/errors.js'
import {rejectionOf} from '../helpers/assert.js'
import {type DecodedPng, decodePng, isInk, near} from './png.js'
import {fakePredictions, fakeRoc, fakeRunData, gallerySamples, reportOf} from './run-data.js'

const GENERATED_AT = new Date('2025-01-01T12:00:00.000Z')

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}

async function readJson(dir: string, name: string): Promise<unknown> {
  const text = await readFile(join(dir, name), 'utf8')
  expect(text.startsWith('{\n  "'), `${name} is indented by 2 spaces`).to.equal(true)
  return JSON.parse(text)
}

/** A plot is readable when it has a title (ink in the top band) and more than a few colours. */
function expectTitledPlot(png: DecodedPng, name: string): void {
  expect(png.colours, `${name} colours`).to.be.greaterThan(50)
  expect(png.count(isInk, {y1: 0.08}), `${name} title text`).to.be.greaterThan(300)
}

describe('writeRunArtifacts', function () {
  let root: string
  let dir: string
  let run: RunData
  let files: ArtifactFile[]
  const onFile: string[] = []

  before(async function () {
    root = await mkdtemp(join(tmpdir(), 'artifacts-'))
    dir = join(root, 'run')
    run = fakeRunData()
    files = await writeRunArtifacts(dir, run, {
      roc: fakeRoc(run.predictions),
      lrTrace: true,
      timing: true,
      generatedAt: GENERATED_AT,
      onFile: (file) => onFile.push(file.name),
    })
  })

  after(async () => {
    await rm(root, {recursive: true, force: true})
  })

  it('writes every artifact, metrics.json (the mark of a finished run) and run_metadata.json last, and nothing else', async () => {
    const names = files.map((f) => f.name)
    expect(names).to.deep.equal([
      'predictions.json',
      'loss_curves.json',
      'roc_curves.json',
      'training_dynamics.json',
      'timing_stats.json',
      'confusion_matrix.png',
      'gallery.png',
      'roc_curves.png',
      'training_dynamics.png',
      'timing_stats.png',
      'metrics.json',
      'run_metadata.json',
    ])
    expect(onFile).to.deep.equal(names)
    expect((await readdir(dir)).sort()).to.deep.equal([...names].sort())
  })

  it('writes JSON files that read back valid against their schemas, with the run in them', async () => {
    const metrics = MetricsSchema.parse(await readJson(dir, 'metrics.json'))
    expect(metrics.num_epochs).to.equal(7)
    expect(metrics.best_epoch).to.equal(5)
    expect(metrics.splits.eval.f1_macro).to.equal(run.classificationReport.macro_avg.f1)
    expect(metrics.test_accuracy).to.equal(metrics.splits.eval.accuracy)
    expect(metrics.classification_report).to.deep.equal(run.classificationReport)

    const predictions = PredictionsSchema.parse(await readJson(dir, 'predictions.json'))
    expect(predictions.classes).to.deep.equal([...DEFAULT_CLASSES])
    expect(predictions.dataset_file).to.equal(MNIST_FILES.trainImages.name)
    expect(predictions.samples).to.deep.equal(run.predictions)

    const curves = LossCurvesSchema.parse(await readJson(dir, 'loss_curves.json'))
    expect(curves.val_f1_macro).to.deep.equal(run.epochs.map((e) => e.val_f1_macro))
    expect(curves).to.not.have.property('learning_rate')
    // The balanced accuracy under its own name, and under the original's `val_accuracy`.
    expect(curves.schema_version).to.equal(1)
    expect(curves.val_balanced_accuracy).to.deep.equal(run.epochs.map((e) => e.val_balanced_accuracy))
    expect(curves.val_accuracy).to.deep.equal(curves.val_balanced_accuracy)

    expect(RocCurvesSchema.parse(await readJson(dir, 'roc_curves.json'))).to.deep.equal(buildRocCurves(fakeRoc(run.predictions)))
    const dynamics = TrainingDynamicsSchema.parse(await readJson(dir, 'training_dynamics.json'))
    expect(dynamics.learning_rate_changes).to.have.length(1)
    const timing = TimingStatsSchema.parse(await readJson(dir, 'timing_stats.json'))
    expect(timing.summary.images_per_epoch).to.equal(3400)
    expect(timing.summary.total_seconds).to.be.closeTo(92.1, 1e-9)
  })

  it('lists every other file in run_metadata.json with its size and SHA-256', async () => {
    const metadata = RunMetadataSchema.parse(await readJson(dir, 'run_metadata.json'))
    expect(metadata.generated_at).to.equal(GENERATED_AT.toISOString())
    expect(metadata.run_name).to.equal(run.runName)
    expect(metadata.feature_normalization).to.deep.equal({method: 'standardize', stats_source: 'train', mean: 0.1307, std: 0.3081})
    expect(metadata.dataset.splits.eval.per_class).to.deep.equal({0: 240, 5: 60, 8: 700})
    expect(metadata.training_config.seed).to.equal(11_122_025)
    expect(metadata.files.map((a) => a.name)).to.deep.equal(files.slice(0, -1).map((f) => f.name))
    expect(Object.values(metadata.artifacts)).to.deep.equal(files.slice(0, -1).map((f) => f.name))
    expect(metadata.artifacts.loss_curves).to.equal('loss_curves.json')
    for (const artifact of metadata.files) {
      const bytes = await readFile(join(dir, artifact.name))
      expect(artifact.bytes, artifact.name).to.equal(bytes.length)
      expect(artifact.sha256, artifact.name).to.equal(createHash('sha256').update(bytes).digest('hex'))
    }
  })

  it('draws the confusion matrix with counts, axis titles and a title', async () => {
    const png = await decodePng(await readFile(join(dir, 'confusion_matrix.png')))
    expect(png.width).to.be.within(600, 1800)
    expect(png.height).to.be.within(600, 1200)
    expectTitledPlot(png, 'confusion matrix')
    // "true label" runs down the left edge, "predicted label" along the bottom.
    expect(png.count(isInk, {x1: 0.3, y0: 0.3, y1: 0.7}), 'true label').to.be.greaterThan(300)
    expect(png.count(isInk, {y0: 0.9}), 'predicted label').to.be.greaterThan(300)
    expect(
      png.count(({r, b}) => b > r + 80 && b > 120),
      'blue cells',
    ).to.be.greaterThan(png.width * png.height * 0.05)
  })

  it('draws the gallery: 25 digits framed green or red, with captions', async () => {
    const png = await decodePng(await readFile(join(dir, 'gallery.png')))
    expect(png.width).to.be.within(900, 1600)
    expect(png.height).to.be.within(900, 1400)
    expectTitledPlot(png, 'gallery')
    const red = png.count(near('#d62728'))
    const green = png.count(near('#2ca02c'))
    // Four mistakes among 25: red frames and captions exist, green ones outnumber them.
    expect(red).to.be.greaterThan(2000)
    expect(green).to.be.greaterThan(4 * red)
    expect(
      png.count(({r, g, b}) => r > 230 && g > 230 && b > 230, {y0: 0.1}),
      'white digit strokes and background',
    ).to.be.greaterThan(10_000)
    expect(
      png.count(({r, g, b}) => r + g + b === 0),
      'black digit backgrounds',
    ).to.be.greaterThan(25 * 56 * 56)
  })

  it('draws ROC curves, training dynamics and timing with their series', async () => {
    const roc = await decodePng(await readFile(join(dir, 'roc_curves.png')))
    expectTitledPlot(roc, 'roc')
    // Vega-Lite's default palette: one colour per class.
    for (const colour of ['#4c78a8', '#f58518', '#e45756']) expect(roc.count(near(colour)), colour).to.be.greaterThan(200)

    const dynamics = await decodePng(await readFile(join(dir, 'training_dynamics.png')))
    expectTitledPlot(dynamics, 'training dynamics')
    for (const colour of ['#1f77b4', '#ff7f0e', '#2ca02c']) expect(dynamics.count(near(colour)), colour).to.be.greaterThan(300)
    // The learning-rate axis title is on the right.
    expect(dynamics.count(near('#2ca02c'), {x0: 0.9}), 'right axis title').to.be.greaterThan(200)

    const timing = await decodePng(await readFile(join(dir, 'timing_stats.png')))
    expectTitledPlot(timing, 'timing')
    expect(timing.count(near('#4c78a8')), 'bars').to.be.greaterThan(timing.width * timing.height * 0.1)
    expect(timing.count(near('#d62728')), 'mean line').to.be.greaterThan(300)
  })

  it('rejects run data that violates a schema before writing anything', async () => {
    const target = join(root, 'rejected')
    const badProbs = fakeRunData()
    badProbs.predictions[3] = {...badProbs.predictions[3], probabilities: [3.2, -1, 0.4]}
    expect((await rejectionOf(writeRunArtifacts(target, badProbs))).message).to.match(/run data is invalid[\s\S]*predictions/)

    const normalisedGallery = fakeRunData()
    normalisedGallery.gallery[0] = {...normalisedGallery.gallery[0], pixels: normalisedGallery.gallery[0].pixels.map((v) => (v - 0.13) / 0.31)}
    expect((await rejectionOf(writeRunArtifacts(target, normalisedGallery))).message).to.match(/float pixels must lie in \[0, 1\]/)

    const badRoc = {...fakeRoc(run.predictions), macro_auc: 1.5}
    expect((await rejectionOf(writeRunArtifacts(target, fakeRunData(), {roc: badRoc}))).message).to.match(/roc_curves.json does not match its schema/)
    expect(await exists(target)).to.equal(false)
  })

  it('fails with one clear line when the output folder cannot be created', async () => {
    const blocker = join(root, 'a-file')
    await writeFile(blocker, 'not a folder')
    const error = await rejectionOf(writeRunArtifacts(join(blocker, 'run'), fakeRunData()))
    expect(error).to.be.instanceOf(UserError)
    expect(error.message).to.match(/cannot use .*a-file as a folder: it is a file; choose a writable --output-dir/)
    expect(error.message).to.not.include('\n')
  })
})

describe('writeEvaluationArtifacts', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'evaluation-'))
  })
  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('writes predictions, confusion matrix, gallery and ROC of another split under suffixed names', async () => {
    // A small "t10k" file: the gallery digits as bytes, at dataset indices 0..n-1.
    const predictions = fakePredictions().slice(0, 12)
    const samples = gallerySamples(predictions).slice(0, 12)
    const pixels = new Uint8Array(samples.length * PIXELS)
    for (const [i, sample] of samples.entries())
      pixels.set(
        Array.from(sample.pixels, (v) => Math.round(v * 255)),
        i * PIXELS,
      )
    const rows = samples.map((s, i) => ({...predictions.find((p) => p.true_label === s.trueLabel && p.predicted_label === s.predictedLabel)!, index: i}))
    const labels = samples.map((s) => s.trueLabel)
    const probs = Float32Array.from(rows.flatMap((r) => r.probabilities))
    const roc = fakeRoc(rows)

    const files = await writeEvaluationArtifacts(
      dir,
      {data: {source: {pixels}, split: {indices: labels.map((_, i) => i), labels}}, evaluation: {split: 'test', report: reportOf(rows), probs}},
      {roc},
    )
    expect(files.map((f) => f.name)).to.deep.equal([
      'predictions_test.json',
      'roc_curves_test.json',
      'confusion_matrix_test.png',
      'gallery_test.png',
      'roc_curves_test.png',
    ])
    const written = PredictionsSchema.parse(JSON.parse(await readFile(join(dir, 'predictions_test.json'), 'utf8')))
    expect(written.split).to.equal('test')
    expect(written.dataset_file).to.equal(MNIST_FILES.testImages.name)
    expect(written.samples.map((s) => s.predicted_label)).to.deep.equal(rows.map((r) => r.predicted_label))
    const gallery = await decodePng(await readFile(join(dir, 'gallery_test.png')))
    expect(gallery.height, 'three rows of five').to.be.lessThan(900)
    expect(gallery.count(near('#d62728'))).to.be.greaterThan(1000)
    expectTitledPlot(gallery, 'test gallery')
  })
})

describe('writeJsonArtifact', () => {
  it('validates before writing and describes what it wrote', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'json-artifact-'))
    try {
      const value = {
        schema_version: 1 as const,
        epochs: [1],
        train_loss: [0.5],
        train_accuracy: [0.8],
        val_loss: [0.4],
        val_accuracy: [0.85],
        val_balanced_accuracy: [0.85],
        val_f1_macro: [0.7],
        extra: 1,
      }
      const file = await writeJsonArtifact(join(dir, 'nested'), 'loss_curves.json', LossCurvesSchema, value)
      const bytes = await readFile(join(dir, 'nested', 'loss_curves.json'))
      expect(file).to.deep.equal({name: 'loss_curves.json', bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex')})
      expect(JSON.parse(bytes.toString()), 'unknown keys are dropped').to.not.have.property('extra')

      const error = await rejectionOf(writeJsonArtifact(dir, 'bad.json', LossCurvesSchema, {...value, epochs: []}))
      expect(error.message).to.match(/bad.json does not match its schema/)
      expect(error).to.not.be.instanceOf(UserError)
      expect(await exists(join(dir, 'bad.json'))).to.equal(false)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})
