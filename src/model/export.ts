/**
 * Export a checkpoint in the TensorFlow.js Layers format (`model.json` plus one
 * weights file), the format browsers and Node load with `tf.loadLayersModel`.
 *
 * The exported model is self-contained: it takes images [B, 28, 28, 1] with
 * values in [0, 1] (white ink on black, MNIST-preprocessed, what `toMnist`
 * returns), applies the checkpoint's normalisation in its first layer
 * (`Rescaling`, which tfjs-layers registers for deserialisation since 4.x) and
 * outputs class probabilities (softmax) in the order of `classes`, with the
 * checkpoint's temperature (if any) folded into the last layer's weights. The
 * normalisation statistics and the classes are also recorded in model.json's
 * `userDefinedMetadata`, for whoever reads the file.
 */
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {readdir, rm} from 'node:fs/promises'
import {join} from 'node:path'

import {tf} from '../engine/tf.js'
import * as tfl from '@tensorflow/tfjs-layers'
import {z} from 'zod'

import {IMAGE_SIZE} from '../config.js'
import {currentBackend, selectBackend} from '../engine/backend.js'
import {UserError, errorMessage} from '../errors.js'
import {sweepTemporaries, writeFileAtomic} from '../util/atomic.js'
import {makeFolder} from '../util/paths.js'
import {packageVersion} from '../version.js'
import {type Checkpoint, checkpointId, loadCheckpoint} from './checkpoint.js'
import {BN_EPSILON, BN_MOMENTUM, MODEL_KINDS, type NetworkDescription, networkOf, parameterSpecs} from './network.js'

/**
 * Keras counts batch-norm momentum the other way round: PyTorch's 0.1 is
 * Keras's 0.9, which only matters to whoever fine-tunes the exported model.
 */
const BN_MOMENTUM_KERAS = 1 - BN_MOMENTUM

/**
 * model.json, and its weights under a name derived from their SHA-256
 * (`weights.<12 hex>.bin`): model.json names the exact bytes it was written
 * with, so no interruption can pair it with another export's weights — for
 * `tf.loadLayersModel` as much as for us.
 */
export const EXPORT_FILES = {model: 'model.json', weightsPrefix: 'weights.', weightsSuffix: '.bin'} as const

export function weightsFileName(weights: Uint8Array): string {
  return `${EXPORT_FILES.weightsPrefix}${createHash('sha256').update(weights).digest('hex').slice(0, 12)}${EXPORT_FILES.weightsSuffix}`
}

const WEIGHTS_FILE = /^weights(?:\.[\da-f]{12})?\.bin$/

/** Version of `userDefinedMetadata`'s shape, raised when it changes. */
export const EXPORT_METADATA_VERSION = 1

/** model.json's `userDefinedMetadata`: ours, so snake_case like every JSON file the package writes (the rest of model.json is tfjs's format). */
export const ExportMetadataSchema = z
  .object({
    format: z.literal('digit-classification-layers-model'),
    format_version: z.literal(EXPORT_METADATA_VERSION),
    package_version: z.string(),
    model: z.enum(MODEL_KINDS),
    checkpoint_id: z.string(),
    classes: z.array(z.int().min(0).max(9)),
    input: z.object({
      shape: z.tuple([z.null(), z.number(), z.number(), z.literal(1)]),
      range: z.tuple([z.literal(0), z.literal(1)]),
      ink: z.literal('white on black'),
    }),
    output: z.literal('probabilities'),
    temperature: z
      .number()
      .positive()
      .describe('temperature scaling fitted on the validation split, folded into the last dense layer (kernel and bias divided by it); 1: none'),
    feature_normalization: z
      .object({
        method: z.literal('standardize'),
        stats_source: z.literal('train'),
        mean: z.number(),
        std: z.number(),
        applied_by: z.literal('normalize layer'),
      })
      .describe("already applied by the model's first layer (`normalize`, a Rescaling layer): do not apply it again"),
  })
  .strict()
export type ExportMetadata = z.infer<typeof ExportMetadataSchema>

/** What model.json's `userDefinedMetadata` holds once written: the metadata and the weights' full SHA-256. */
export type WrittenExportMetadata = ExportMetadata & {weights_sha256: string}

/** What `export` prints. */
export const ExportSummarySchema = z
  .object({
    output_dir: z.string(),
    files: z.array(z.string()).describe('model.json and its weights file, in the output folder'),
    bytes: z.int().nonnegative(),
    metadata: ExportMetadataSchema,
  })
  .strict()
  .meta({title: 'export output', description: 'What `digit-classification export` prints on stdout.'})
export type ExportSummary = z.infer<typeof ExportSummarySchema>

/** The checkpoint's tensors for each layer, in the order tfjs-layers keeps that layer's weights. */
function layerWeights(net: NetworkDescription): Record<string, string[]> {
  const dense = (name: string): [string, string[]] => [name, [`${name}.kernel`, `${name}.bias`]]
  return Object.fromEntries([
    ...net.blocks.flatMap(({conv, bn}) => [
      [conv, [`${conv}.kernel`, `${conv}.bias`]],
      [bn, [`${bn}.gamma`, `${bn}.beta`, `${bn}.movingMean`, `${bn}.movingVariance`]],
    ]),
    ...(net.hidden ? [dense(net.hidden.name)] : []),
    dense(net.dense.name),
  ])
}

/** A tfjs-layers Sequential that computes what `createNetwork` + softmax compute, normalisation included. */
export function buildLayersModel(checkpoint: Checkpoint): tfl.Sequential {
  const {model: kind, normalization} = checkpoint.header
  const net = networkOf(checkpoint.header)
  const model = tfl.sequential({name: `digit_classification_${kind}`})
  // (x - mean) / std as x * (1 / std) + (-mean / std).
  model.add(
    tfl.layers.rescaling({
      name: 'normalize',
      inputShape: [...net.input],
      scale: 1 / normalization.std,
      offset: -normalization.mean / normalization.std,
    }),
  )
  for (const [i, {conv, bn, filters, kernel, pool}] of net.blocks.entries()) {
    model.add(tfl.layers.conv2d({name: conv, filters, kernelSize: kernel, padding: 'same'}))
    model.add(tfl.layers.batchNormalization({name: bn, epsilon: BN_EPSILON, momentum: BN_MOMENTUM_KERAS, axis: -1}))
    model.add(tfl.layers.activation({name: `relu${i + 1}`, activation: 'relu'}))
    model.add(tfl.layers.maxPooling2d({name: `pool${i + 1}`, poolSize: pool, strides: pool, padding: 'valid'}))
  }

  // Row-major flatten of NHWC, the same order as the network's reshape.
  model.add(tfl.layers.flatten({name: 'flatten'}))
  if (net.hidden) {
    model.add(tfl.layers.dense({name: net.hidden.name, units: net.hidden.units, activation: 'relu'}))
    model.add(tfl.layers.dropout({name: 'dropout', rate: net.hidden.dropout}))
  }

  model.add(tfl.layers.dense({name: net.dense.name, units: net.dense.units, activation: 'softmax'}))

  const specs = parameterSpecs(net)
  for (const [layerName, names] of Object.entries(layerWeights(net))) {
    const layer = model.getLayer(layerName)
    // softmax((Wx + b) / T) = softmax((W/T)x + b/T): the temperature becomes part of the last layer.
    const scale = layerName === net.dense.name ? 1 / (checkpoint.header.calibration?.temperature ?? 1) : 1
    const tensors = names.map((name) =>
      tf.tensor(scale === 1 ? checkpoint.values[name] : checkpoint.values[name].map((v) => v * scale), specs[name].shape, 'float32'),
    )
    layer.setWeights(tensors)
    tf.dispose(tensors)
  }

  return model
}

/**
 * Write model.json and its weights file into `outputDir` (created if needed).
 * Order: the new weights under their own name, then model.json (atomically),
 * then the previous export's weights are removed. Killed at any point, the
 * folder's model.json still names weights that are there and its own.
 */
export async function exportModel(checkpointPath: string, outputDir: string): Promise<ExportSummary> {
  const checkpoint = await loadCheckpoint(checkpointPath)
  await makeFolder(outputDir, 'choose another --output-dir')
  await sweepTemporaries(outputDir)

  // Building layers needs a backend; plain JavaScript is enough to copy weights.
  if (currentBackend() === undefined) await selectBackend('cpu')
  const {mean, std} = checkpoint.header.normalization
  const metadata: ExportMetadata = {
    format: 'digit-classification-layers-model',
    format_version: EXPORT_METADATA_VERSION,
    package_version: packageVersion(),
    model: checkpoint.header.model,
    checkpoint_id: checkpointId(checkpoint),
    classes: [...checkpoint.header.classes],
    input: {shape: [null, IMAGE_SIZE, IMAGE_SIZE, 1], range: [0, 1], ink: 'white on black'},
    output: 'probabilities',
    temperature: checkpoint.header.calibration?.temperature ?? 1,
    feature_normalization: {method: 'standardize', stats_source: 'train', mean, std, applied_by: 'normalize layer'},
  }

  const model = buildLayersModel(checkpoint)
  let bytes = 0
  let weightsName = ''
  try {
    model.setUserDefinedMetadata(metadata as unknown as Record<string, unknown>)
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData))
        weightsName = weightsFileName(weights)
        const json = JSON.stringify({
          format: artifacts.format,
          generatedBy: artifacts.generatedBy,
          convertedBy: artifacts.convertedBy ?? null,
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{paths: [weightsName], weights: artifacts.weightSpecs}],
          userDefinedMetadata: {...artifacts.userDefinedMetadata, weights_sha256: createHash('sha256').update(weights).digest('hex')},
        })
        // Weights first: model.json is what loaders open, so it only appears once its weights are complete.
        const weightsPath = join(outputDir, weightsName)
        const hadWeights = existsSync(weightsPath)
        await writeFileAtomic(weightsPath, weights)
        try {
          await writeFileAtomic(join(outputDir, EXPORT_FILES.model), json)
        } catch (error) {
          // No model.json names these weights: a failed export leaves no orphan file behind.
          if (!hadWeights) await rm(weightsPath, {force: true})
          throw error
        }

        bytes = weights.byteLength + Buffer.byteLength(json)
        // Only now is the previous export's weights file unreferenced.
        for (const name of await readdir(outputDir)) {
          if (name !== weightsName && WEIGHTS_FILE.test(name)) await rm(join(outputDir, name), {force: true})
        }

        return {modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts)}
      }),
    )
  } catch (error) {
    if (error instanceof UserError) throw error
    const code = (error as NodeJS.ErrnoException).code
    if (code) throw new UserError(`cannot write the model to ${outputDir}: ${errorMessage(error)}; check the folder's permissions and free space`)
    throw error
  } finally {
    model.dispose()
  }

  return {output_dir: outputDir, files: [EXPORT_FILES.model, weightsName], bytes, metadata}
}
