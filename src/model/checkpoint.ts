import {createHash} from 'node:crypto'
import {basename} from 'node:path'

import {z} from 'zod'

import {CLASSES} from '../config.js'
import {UserError, errorMessage} from '../errors.js'
import {writeFileAtomic} from '../util/atomic.js'
import {UnreadableFile, readFileLimited} from '../util/read.js'
import {packageVersion} from '../version.js'
import {MODEL_KINDS, parameterSpecs} from './network.js'

/**
 * The checkpoint file: everything needed to predict, evaluate on the same
 * split, or resume training, in one file.
 *
 *   "DIGITCKP" (8 bytes) | header length (u32 LE) | header (JSON, UTF-8)
 *   | tensor data (float32 LE, in header order) | SHA-256 of all preceding bytes
 *
 * The trailing digest makes a truncated or corrupted file an error, never a
 * silently wrong model.
 */
const MAGIC = Buffer.from('DIGITCKP', 'ascii')
const FORMAT_VERSION = 1
const DIGEST_BYTES = 32
/** Far above any checkpoint this package writes (the CNN's, with optimiser state, is under 1 MiB). */
const MAX_CHECKPOINT_BYTES = 64 * 1024 * 1024

/** The name of the first tensor holding NaN or ±Infinity, if any. */
function firstNonFinite(tensors: Record<string, Float32Array>): string | undefined {
  for (const [name, data] of Object.entries(tensors)) {
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return name
  }

  return undefined
}

const TensorEntrySchema = z.object({name: z.string(), shape: z.array(z.number().int().nonnegative())})

export const CheckpointHeaderSchema = z.object({
  format: z.literal('digit-classification-checkpoint'),
  formatVersion: z.literal(FORMAT_VERSION),
  packageVersion: z.string(),
  createdAt: z.string(),
  model: z.enum(MODEL_KINDS),
  classes: z.array(z.number().int()),
  normalization: z.object({method: z.literal('standardize'), mean: z.number(), std: z.number().positive()}),
  data: z.object({
    seed: z.number().int(),
    // Checked here, so a damaged header is reported as the checkpoint's fault, not as a flag the user never gave.
    evalRatio: z.number().gt(0, 'must be between 0 and 1').lt(1, 'must be between 0 and 1'),
    valRatio: z.number().gt(0, 'must be between 0 and 1').lt(1, 'must be between 0 and 1'),
    classCounts: z.record(z.string(), z.number().int().positive()),
    fingerprints: z.object({train: z.string(), val: z.string(), eval: z.string()}),
  }),
  training: z.object({
    epoch: z.number().int().nonnegative(),
    bestEpoch: z.number().int().nonnegative(),
    bestValF1Macro: z.number(),
    /** The optimiser's rate for the next epoch (after any reduction), for --resume. */
    learningRate: z.number().positive(),
    /** Why training ended early (early stopping), or null: such a run is not resumed. */
    stopReason: z.string().nullable().default(null),
    metrics: z.record(z.string(), z.number()),
    backend: z.string(),
    config: z.record(z.string(), z.unknown()),
    /** State of the trainer's callbacks (early stopping, LR schedule…), for --resume. */
    callbacks: z.record(z.string(), z.unknown()),
    history: z.array(z.record(z.string(), z.number())),
  }),
  /**
   * Temperature scaling fitted on the validation split after training: logits
   * are divided by `temperature` before the softmax. Null (older checkpoints,
   * `--no-calibrate`, last.ckpt): probabilities are the network's own.
   */
  calibration: z
    .object({
      temperature: z.number().positive(),
      fittedOn: z.literal('val'),
      nllBefore: z.number().nonnegative(),
      nllAfter: z.number().nonnegative(),
    })
    .nullable()
    .default(null),
  tensors: z.array(TensorEntrySchema),
  optimizerTensors: z.array(TensorEntrySchema),
})
export type CheckpointHeader = z.infer<typeof CheckpointHeaderSchema>

export interface Checkpoint {
  header: CheckpointHeader
  /** Model parameters and buffers by name. */
  values: Record<string, Float32Array>
  /** Optimiser slots by name (empty when the checkpoint is for inference only). */
  optimizer: Record<string, Float32Array>
}

/** The header fields a writer supplies; the format's own fields (version, tensor list…) are filled in by `encodeCheckpoint`. */
export type HeaderInput = Omit<CheckpointHeader, 'format' | 'formatVersion' | 'packageVersion' | 'createdAt' | 'tensors' | 'optimizerTensors' | 'classes' | 'calibration'> &
  Partial<Pick<CheckpointHeader, 'calibration'>>

export function encodeCheckpoint(header: HeaderInput, values: Record<string, Float32Array>, optimizer: Record<string, Float32Array> = {}): Buffer {
  const specs = parameterSpecs(header.model)
  const diverged = firstNonFinite(values) ?? firstNonFinite(optimizer)
  if (diverged) throw new UserError(`training diverged: ${diverged} holds NaN or infinite values, so no checkpoint was written; lower --learning-rate`)
  const tensors = Object.entries(specs).map(([name, spec]) => {
    const value = values[name]
    if (!value || value.length !== spec.shape.reduce((a, b) => a * b, 1)) throw new Error(`checkpoint value ${name} is missing or has the wrong size`)
    return {name, shape: spec.shape}
  })
  const optimizerTensors = Object.entries(optimizer).map(([name, value]) => ({name, shape: [value.length]}))
  const full: CheckpointHeader = CheckpointHeaderSchema.parse({
    format: 'digit-classification-checkpoint',
    formatVersion: FORMAT_VERSION,
    packageVersion: packageVersion(),
    createdAt: new Date().toISOString(),
    classes: [...CLASSES],
    ...header,
    tensors,
    optimizerTensors,
  })
  const headerBytes = Buffer.from(JSON.stringify(full), 'utf8')
  const length = Buffer.alloc(4)
  length.writeUInt32LE(headerBytes.length, 0)
  const parts: Uint8Array[] = [MAGIC, length, headerBytes]
  for (const {name} of tensors) parts.push(float32Bytes(values[name]))
  for (const {name} of optimizerTensors) parts.push(float32Bytes(optimizer[name]))
  const body = Buffer.concat(parts)
  return Buffer.concat([body, createHash('sha256').update(body).digest()])
}

function float32Bytes(data: Float32Array): Buffer {
  const copy = Float32Array.from(data)
  return Buffer.from(copy.buffer, copy.byteOffset, copy.byteLength)
}

export function decodeCheckpoint(bytes: Buffer, file: string): Checkpoint {
  const name = basename(file)
  const bad = (why: string) => new UserError(`${name} is not a usable checkpoint: ${why}`)
  if (bytes.length < MAGIC.length + 4 + DIGEST_BYTES || bytes.toString('latin1', 0, MAGIC.length) !== MAGIC.toString('latin1')) {
    throw bad('it is not a digit-classification checkpoint (wrong file?)')
  }

  const body = bytes.subarray(0, bytes.length - DIGEST_BYTES)
  const digest = bytes.subarray(bytes.length - DIGEST_BYTES)
  if (createHash('sha256').update(body).digest('hex') !== digest.toString('hex')) throw bad('it is truncated or corrupted (checksum mismatch)')
  const headerLength = body.readUInt32LE(MAGIC.length)
  const headerStart = MAGIC.length + 4
  let raw: unknown
  try {
    raw = JSON.parse(body.subarray(headerStart, headerStart + headerLength).toString('utf8'))
  } catch (error) {
    throw bad(`its header is not JSON (${errorMessage(error)})`)
  }

  const parsed = CheckpointHeaderSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    throw bad(`its header is invalid at "${issue.path.join('.')}" (${issue.message})`)
  }

  const header = parsed.data

  if (header.classes.join(',') !== CLASSES.join(',')) throw bad(`it predicts classes ${header.classes.join(', ')}, not ${CLASSES.join(', ')}`)
  let offset = headerStart + headerLength
  const read = (entries: Array<{name: string; shape: number[]}>) => {
    const out: Record<string, Float32Array> = {}
    for (const {name: tensor, shape} of entries) {
      const size = shape.reduce((a, b) => a * b, 1)
      if (offset + size * 4 > body.length) throw bad('its tensor data is shorter than its header says')
      out[tensor] = new Float32Array(body.buffer.slice(body.byteOffset + offset, body.byteOffset + offset + size * 4))
      offset += size * 4
    }

    return out
  }

  const values = read(header.tensors)
  const optimizer = read(header.optimizerTensors)
  if (offset !== body.length) throw bad('it has trailing bytes after its tensor data')
  for (const [tensor, spec] of Object.entries(parameterSpecs(header.model))) {
    const value = values[tensor]
    if (!value || value.length !== spec.shape.reduce((a, b) => a * b, 1)) throw bad(`tensor ${tensor} is missing or has the wrong shape`)
  }

  // A valid checksum only says the bytes are as written: a diverged model would predict nonsense (null probabilities).
  const nonFinite = firstNonFinite(values) ?? firstNonFinite(optimizer)
  if (nonFinite) throw bad(`tensor ${nonFinite} holds NaN or infinite values (the training that wrote it diverged)`)

  return {header, values, optimizer}
}

export async function saveCheckpoint(
  file: string,
  header: HeaderInput,
  values: Record<string, Float32Array>,
  optimizer?: Record<string, Float32Array>,
): Promise<void> {
  await writeFileAtomic(file, encodeCheckpoint(header, values, optimizer))
}

export async function loadCheckpoint(file: string): Promise<Checkpoint> {
  let bytes: Buffer
  try {
    bytes = await readFileLimited(file, MAX_CHECKPOINT_BYTES)
  } catch (error) {
    if (error instanceof UnreadableFile) throw new UserError(`cannot read checkpoint ${file}: ${error.reason}; give the path of a .ckpt file`)
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new UserError(`checkpoint ${file} not found; train a model first (digit-classification train)`)
    throw new UserError(`cannot read checkpoint ${file}: ${errorMessage(error)}`)
  }

  return decodeCheckpoint(bytes, file)
}

/** A short stable id for a checkpoint's weights (shown in predictions and the web app). */
export function checkpointId(checkpoint: Checkpoint): string {
  const hash = createHash('sha256')
  for (const {name} of checkpoint.header.tensors) hash.update(new Uint8Array(checkpoint.values[name].buffer))
  return hash.digest('hex').slice(0, 12)
}
