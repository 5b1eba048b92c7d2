import {createHash} from 'node:crypto'
import {expect} from 'chai'
import {mkdtempSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'

import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'

import {DEFAULT_CLASSES, PIXELS} from '../../src/config.js'
import {preprocessBytes} from '../../src/images/preprocess.js'
import {EXPORT_FILES, exportModel} from '../../src/model/export.js'
import {loadPredictor} from '../../src/model/predictor.js'
import {resolveTrainingConfig} from '../../src/training/config.js'
import {runTraining} from '../../src/training/run.js'
import {expectUserRejection} from '../helpers/assert.js'
import {cli, oneErrorLine} from '../helpers/cli.js'
import {FIXTURE_DIR, ROOT} from '../helpers/fixtures.js'
import {mnistDigit} from '../images/draw.js'

/** A tiny real run on the fixtures: one epoch is enough to move every weight away from its initial value. */
async function train(model: 'cnn' | 'softmax'): Promise<string> {
  const outputDir = mkdtempSync(join(tmpdir(), `export-train-${model}-`))
  const config = resolveTrainingConfig({flags: {'class-counts': '8=140,0=48,5=12', epochs: 1, backend: 'wasm', 'num-workers': 1, model}})
  const progress = new PassThrough()
  progress.resume()
  await runTraining({config, dataDir: FIXTURE_DIR, outputDir}, {progress})
  return join(outputDir, 'best.ckpt')
}

/** Reads model.json and the weight files it names, the way tf.io's file loaders do. */
function fileHandler(dir: string): tf.io.IOHandler {
  return {
    async load() {
      const json = JSON.parse(readFileSync(join(dir, EXPORT_FILES.model), 'utf8')) as tf.io.ModelJSON
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const buffers = manifest.flatMap((group) => group.paths.map((path) => new Uint8Array(readFileSync(join(dir, path)))))
        const specs = manifest.flatMap((group) => group.weights)
        return [specs, tf.io.concatenateArrayBuffers(buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)))]
      })
    },
  }
}

/** Real digits not in the fixtures (the package's 600th onwards), plus sample.png through the predict pipeline. */
async function realDigits(): Promise<Float32Array[]> {
  const digits: Float32Array[] = DEFAULT_CLASSES.flatMap((label) => Array.from({length: 10}, (_, i) => Float32Array.from(mnistDigit(label, 600 + i))))
  digits.push((await preprocessBytes(readFileSync(join(ROOT, 'sample.png')), 'sample.png', {preprocess: true})).pixels)
  return digits
}

async function layersProbabilities(model: tfl.LayersModel, images: Float32Array[]): Promise<Float32Array> {
  const x = new Float32Array(images.length * PIXELS)
  for (const [i, image] of images.entries()) x.set(image, i * PIXELS)
  const output = tf.tidy(() => model.predict(tf.tensor4d(x, [images.length, 28, 28, 1])) as tf.Tensor)
  const data = (await output.data()) as Float32Array
  output.dispose()
  return data
}

async function expectSamePredictions(checkpoint: string, model: tfl.LayersModel): Promise<void> {
  const images = await realDigits()
  const predictor = await loadPredictor(checkpoint, {backend: 'wasm'})
  try {
    // A fitted temperature is part of what the exported model must reproduce.
    if (predictor.checkpoint.header.model === 'cnn') expect(predictor.temperature).to.not.equal(1)
    const expected = await predictor.predict(images)
    const actual = await layersProbabilities(model, images)
    let largest = 0
    for (const [i, prediction] of expected.entries()) {
      for (const [c, label] of DEFAULT_CLASSES.entries()) largest = Math.max(largest, Math.abs(actual[i * 3 + c] - prediction.probs[label]))
    }

    expect(largest).to.be.below(1e-5)
    // Not a trivially constant model: the real digits get different answers.
    expect(new Set(expected.map((p) => p.prediction)).size).to.be.greaterThan(1)
  } finally {
    predictor.dispose()
  }
}

describe('export to the TensorFlow.js Layers format', function () {
  this.timeout(300_000)
  let cnn: string
  let softmax: string

  before(async () => {
    cnn = await train('cnn')
    softmax = await train('softmax')
  })

  it('writes model.json and weights.<hash>.bin that tf.loadLayersModel reads back with the same probabilities as predict', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'export-cnn-'))
    const summary = await exportModel(cnn, dir)
    expect(summary.files).to.have.length(2)
    expect(summary.files[1]).to.match(/^weights\.[\da-f]{12}\.bin$/)
    expect(readdirSync(dir).sort()).to.deep.equal(summary.files)
    const model = await tfl.loadLayersModel(fileHandler(dir))
    try {
      expect(model.layers.map((layer) => layer.getClassName())).to.deep.equal([
        'Rescaling',
        ...['Conv2D', 'BatchNormalization', 'Activation', 'MaxPooling2D'],
        ...['Conv2D', 'BatchNormalization', 'Activation', 'MaxPooling2D'],
        'Flatten',
        'Dense',
      ])
      await expectSamePredictions(cnn, model)
    } finally {
      model.dispose()
    }
  })

  it('records the classes and the normalisation in userDefinedMetadata, matching the normalize layer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'export-meta-'))
    await exportModel(cnn, dir)
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'))
    expect(json.format).to.equal('layers-model')
    const weightsName = readdirSync(dir).find((name) => name.startsWith('weights.'))!
    expect(json.weightsManifest).to.deep.equal([{paths: [weightsName], weights: json.weightsManifest[0].weights}])
    // The name and the recorded SHA-256 both bind model.json to its exact weights.
    const sha = createHash('sha256')
      .update(readFileSync(join(dir, weightsName)))
      .digest('hex')
    expect(json.userDefinedMetadata.weights_sha256).to.equal(sha)
    expect(json.userDefinedMetadata).to.include({format: 'digit-classification-layers-model', format_version: 1})
    expect(weightsName).to.equal(`weights.${sha.slice(0, 12)}.bin`)
    const {classes, feature_normalization: normalization, output} = json.userDefinedMetadata
    expect(classes).to.deep.equal([0, 5, 8])
    expect(output).to.equal('probabilities')
    const {header} = await (await import('../../src/model/checkpoint.js')).loadCheckpoint(cnn)
    expect(normalization).to.include({mean: header.normalization.mean, std: header.normalization.std})
    const rescaling = json.modelTopology.config.layers[0].config
    expect(rescaling.scale * normalization.std).to.be.closeTo(1, 1e-12)
    expect(-rescaling.offset * normalization.std).to.be.closeTo(normalization.mean, 1e-12)
  })

  it('loads over HTTP by URL, weights resolved next to model.json, as a browser loads it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'export-http-'))
    await exportModel(cnn, dir)
    const server = http.createServer((request, response) => {
      const name = (request.url ?? '').slice(1)
      if (!readdirSync(dir).includes(name)) {
        response.statusCode = 404
        response.end()
        return
      }

      response.setHeader('content-type', name.endsWith('.json') ? 'application/json' : 'application/octet-stream')
      response.end(readFileSync(join(dir, name)))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const model = await tfl.loadLayersModel(`http://127.0.0.1:${(server.address() as AddressInfo).port}/model.json`)
      await expectSamePredictions(cnn, model)
      model.dispose()
    } finally {
      server.close()
    }
  })

  it('exports the softmax baseline too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'export-softmax-'))
    const summary = await exportModel(softmax, dir)
    expect(summary.metadata.model).to.equal('softmax')
    const model = await tfl.loadLayersModel(fileHandler(dir))
    try {
      expect(model.layers.map((layer) => layer.getClassName())).to.deep.equal(['Rescaling', 'Flatten', 'Dense'])
      await expectSamePredictions(softmax, model)
    } finally {
      model.dispose()
    }
  })

  it('refuses a corrupt or missing checkpoint in one line and writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'export-bad-'))
    const bytes = readFileSync(cnn)
    const corrupt = join(dir, 'corrupt.ckpt')
    bytes[bytes.length - 100] ^= 0xff
    writeFileSync(corrupt, bytes)
    const out = join(dir, 'out')
    await expectUserRejection(exportModel(corrupt, out), /corrupt\.ckpt is not a usable checkpoint: it is truncated or corrupted/)
    await expectUserRejection(exportModel(join(dir, 'missing.ckpt'), out), /missing\.ckpt not found/)
    expect(readdirSync(dir)).to.deep.equal(['corrupt.ckpt'])
  })

  it('from the command line: prints a JSON summary, and one error line for a bad checkpoint or output folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'export-cli-'))
    const run = await cli(['export', '--checkpoint-path', cnn, '--output-dir', join(dir, 'web')])
    expect(run.code, run.stderr).to.equal(0)
    const summary = JSON.parse(run.stdout)
    expect(summary.files[0]).to.equal('model.json')
    expect(summary.metadata.classes).to.deep.equal([0, 5, 8])
    expect(readdirSync(join(dir, 'web')).sort()).to.deep.equal(summary.files)

    expect(oneErrorLine(await cli(['export', '--checkpoint-path', join(ROOT, 'sample.png'), '--output-dir', dir]))).to.match(
      /^Error: sample\.png is not a usable checkpoint/,
    )
    expect(oneErrorLine(await cli(['export', '--checkpoint-path', cnn, '--output-dir', join(ROOT, 'sample.png', 'x')]))).to.match(
      /^Error: cannot use .*sample\.png as a folder: it is a file; choose another --output-dir/,
    )
    expect(oneErrorLine(await cli(['export', '--output-dir', dir]))).to.match(/Missing required flag checkpoint-path/)
  })
})
