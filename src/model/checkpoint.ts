import {createHash} from 'node:crypto'
import {basename} from 'node:path'

import {z} from 'zod'

import {isClassList} from '../data/classes.js'
import {DECISION_SCORES, type OpenSet, OpenSetSchema} from '../evaluation/openset.js'
import {UserError, errorMessage} from '../errors.js'
import {writeFileAtomic} from '../util/atomic.js'
import {UnreadableFile, readFileLimited} from '../util/read.js'
import {packageVersion} from '../version.js'
import {MODEL_KINDS, networkOf, parameterSpecs} from './network.js'

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
/** The header's version, raised when its shape changes (a reader of the old shape is then a migration). */
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
// Checked here, so a damaged header is reported as the checkpoint's fault, not as a flag the user never gave.
const RatioSchema = z.number().gt(0, 'must be between 0 and 1').lt(1, 'must be between 0 and 1')

/** The header as the code reads it. */
const HeaderSchema = z.object({
  format: z.literal('digit-classification-checkpoint'),
  formatVersion: z.number().int(),
  packageVersion: z.string(),
  createdAt: z.string(),
  model: z.enum(MODEL_KINDS),
  classes: z.array(z.number().int()),
  normalization: z.object({method: z.literal('standardize'), mean: z.number(), std: z.number().positive()}),
  data: z.object({
    seed: z.number().int(),
    evalRatio: RatioSchema,
    valRatio: RatioSchema,
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
    /** The last epoch's log (the trainer's `EpochLog`). */
    metrics: z.record(z.string(), z.number()),
    backend: z.string(),
    /** The resolved training configuration (config.json's settings). */
    config: z.record(z.string(), z.unknown()),
    /** State of the trainer's callbacks (early stopping, LR schedule…) by callback name, for --resume. */
    callbacks: z.record(z.string(), z.record(z.string(), z.unknown())),
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
  /**
   * "One of my digits": the score and its threshold fitted on the validation
   * split after training (src/evaluation/openset.ts). Null (older checkpoints,
   * last.ckpt): no open-set decision, every image with a stroke is answered as known.
   */
  openSet: OpenSetSchema.nullable().default(null),
  tensors: z.array(TensorEntrySchema),
  optimizerTensors: z.array(TensorEntrySchema),
})
export type CheckpointHeader = z.infer<typeof HeaderSchema>

/** The header as the file stores it: snake_case keys, epoch logs as the rows of logs/metrics.json. */
export const CheckpointFileHeaderSchema = z.object({
  format: z.literal('digit-classification-checkpoint'),
  format_version: z.literal(FORMAT_VERSION),
  package_version: z.string(),
  created_at: z.string(),
  model: z.enum(MODEL_KINDS),
  classes: z.array(z.number().int()),
  feature_normalization: z.object({method: z.literal('standardize'), stats_source: z.literal('train'), mean: z.number(), std: z.number().positive()}),
  data: z.object({
    seed: z.number().int(),
    eval_ratio: RatioSchema,
    val_ratio: RatioSchema,
    class_counts: z.record(z.string(), z.number().int().positive()),
    fingerprints: z.object({train: z.string(), val: z.string(), eval: z.string()}),
  }),
  training: z.object({
    epoch: z.number().int().nonnegative(),
    best_epoch: z.number().int().nonnegative(),
    best_val_f1_macro: z.number(),
    learning_rate: z.number().positive(),
    stop_reason: z.string().nullable(),
    metrics: z.record(z.string(), z.number()),
    backend: z.string(),
    config: z.record(z.string(), z.unknown()),
    callbacks: z.record(z.string(), z.record(z.string(), z.unknown())),
    history: z.array(z.record(z.string(), z.number())),
  }),
  calibration: z
    .object({temperature: z.number().positive(), fitted_on: z.literal('val'), nll_before: z.number().nonnegative(), nll_after: z.number().nonnegative()})
    .nullable(),
  /** Absent in files written before the open-set decision existed. */
  open_set: z
    .object({
      score: z.enum(DECISION_SCORES),
      threshold: z.number(),
      temperature: z.number().positive(),
      known_rate: z.number().gt(0).lte(1),
      fitted_on: z.literal('val'),
      val_known_rate: z.number().min(0).max(1),
      reject_head: z.object({weights: z.array(z.number()), bias: z.number(), positives: z.int().positive(), negatives: z.int().positive()}).nullable(),
    })
    .nullable()
    .optional(),
  tensors: z.array(TensorEntrySchema),
  optimizer_tensors: z.array(TensorEntrySchema),
})
export type CheckpointFileHeader = z.infer<typeof CheckpointFileHeaderSchema>

function toFileOpenSet(openSet: OpenSet | null): CheckpointFileHeader['open_set'] {
  return (
    openSet && {
      score: openSet.score,
      threshold: openSet.threshold,
      temperature: openSet.temperature,
      known_rate: openSet.knownRate,
      fitted_on: openSet.fittedOn,
      val_known_rate: openSet.valKnownRate,
      reject_head: openSet.rejectHead,
    }
  )
}

function fromFileOpenSet(openSet: CheckpointFileHeader['open_set']): OpenSet | null {
  return openSet
    ? {
        score: openSet.score,
        threshold: openSet.threshold,
        temperature: openSet.temperature,
        knownRate: openSet.known_rate,
        fittedOn: openSet.fitted_on,
        valKnownRate: openSet.val_known_rate,
        rejectHead: openSet.reject_head,
      }
    : null
}

function toFileHeader(header: CheckpointHeader): CheckpointFileHeader {
  const {data, training, normalization, calibration} = header
  return {
    format: header.format,
    format_version: FORMAT_VERSION,
    package_version: header.packageVersion,
    created_at: header.createdAt,
    model: header.model,
    classes: header.classes,
    feature_normalization: {method: normalization.method, stats_source: 'train', mean: normalization.mean, std: normalization.std},
    data: {seed: data.seed, eval_ratio: data.evalRatio, val_ratio: data.valRatio, class_counts: data.classCounts, fingerprints: data.fingerprints},
    training: {
      epoch: training.epoch,
      best_epoch: training.bestEpoch,
      best_val_f1_macro: training.bestValF1Macro,
      learning_rate: training.learningRate,
      stop_reason: training.stopReason,
      metrics: training.metrics,
      backend: training.backend,
      config: training.config,
      callbacks: training.callbacks,
      history: training.history,
    },
    calibration: calibration && {
      temperature: calibration.temperature,
      fitted_on: calibration.fittedOn,
      nll_before: calibration.nllBefore,
      nll_after: calibration.nllAfter,
    },
    open_set: toFileOpenSet(header.openSet),
    tensors: header.tensors,
    optimizer_tensors: header.optimizerTensors,
  }
}

function fromFileHeader(file: CheckpointFileHeader): CheckpointHeader {
  const {data, training, feature_normalization: normalization, calibration} = file
  return {
    format: file.format,
    formatVersion: file.format_version,
    packageVersion: file.package_version,
    createdAt: file.created_at,
    model: file.model,
    classes: file.classes,
    normalization: {method: normalization.method, mean: normalization.mean, std: normalization.std},
    data: {seed: data.seed, evalRatio: data.eval_ratio, valRatio: data.val_ratio, classCounts: data.class_counts, fingerprints: data.fingerprints},
    training: {
      epoch: training.epoch,
      bestEpoch: training.best_epoch,
      bestValF1Macro: training.best_val_f1_macro,
      learningRate: training.learning_rate,
      stopReason: training.stop_reason,
      metrics: training.metrics,
      backend: training.backend,
      config: training.config,
      callbacks: training.callbacks,
      history: training.history,
    },
    calibration: calibration && {
      temperature: calibration.temperature,
      fittedOn: calibration.fitted_on,
      nllBefore: calibration.nll_before,
      nllAfter: calibration.nll_after,
    },
    openSet: fromFileOpenSet(file.open_set),
    tensors: file.tensors,
    optimizerTensors: file.optimizer_tensors,
  }
}

/** The header of a file, or the first problem with it (its path as the file spells it). */
function parseHeader(raw: unknown): {header: CheckpointHeader} | {issue: z.core.$ZodIssue} {
  const parsed = CheckpointFileHeaderSchema.safeParse(raw)
  return parsed.success ? {header: fromFileHeader(parsed.data)} : {issue: parsed.error.issues[0]}
}

/**
 * Numbers a checksum cannot vouch for: the file may have been written by hand
 * with a valid digest. Outside these ranges probabilities overflow (a
 * temperature of 1e-300 divides logits into Infinity) or the inputs do.
 * Temperatures are fitted within [0.05, 20] (see fitTemperature).
 */
const TEMPERATURE_RANGE = [0.05, 20] as const
/** Pixels are scaled to [0, 1]: their standard deviation is at most 0.5; below this one an image would normalise to ±Infinity. */
const STD_RANGE = [1e-3, 0.5] as const

/** Why the header's numbers cannot come from a training run, or undefined. */
function implausibleNumber(header: CheckpointHeader): string | undefined {
  const {temperature} = header.calibration ?? {temperature: 1}
  if (!(temperature >= TEMPERATURE_RANGE[0] && temperature <= TEMPERATURE_RANGE[1])) {
    return `its calibration temperature ${temperature} is outside ${TEMPERATURE_RANGE[0]}…${TEMPERATURE_RANGE[1]}, the range calibration fits in`
  }

  if (header.openSet) {
    const {threshold, temperature: scoreTemperature, rejectHead} = header.openSet
    if (!Number.isFinite(threshold)) return `its open-set threshold ${threshold} is not a finite number`
    if (!(scoreTemperature >= TEMPERATURE_RANGE[0] && scoreTemperature <= TEMPERATURE_RANGE[1]))
      return `its open-set temperature ${scoreTemperature} is outside ${TEMPERATURE_RANGE[0]}…${TEMPERATURE_RANGE[1]}`
    if (header.openSet.score === 'reject_head' && !rejectHead) return 'its open-set score is the reject head, but it holds none'
    if (rejectHead && ![rejectHead.bias, ...rejectHead.weights].every(Number.isFinite)) return 'its reject head holds NaN or infinite values'
    const features = parameterSpecs(networkOf(header))['dense.kernel'].shape[0]
    if (rejectHead && rejectHead.weights.length !== features)
      return `its reject head weighs ${rejectHead.weights.length} features, but its network gives ${features}`
  }

  const {mean, std} = header.normalization
  if (!(mean >= 0 && mean <= 1)) return `its normalisation mean ${mean} is outside 0…1, the range of pixel values`
  if (!(std >= STD_RANGE[0] && std <= STD_RANGE[1])) return `its normalisation std ${std} is outside ${STD_RANGE[0]}…${STD_RANGE[1]}`
  return undefined
}

export interface Checkpoint {
  header: CheckpointHeader
  /** Model parameters and buffers by name. */
  values: Record<string, Float32Array>
  /** Optimiser slots by name (empty when the checkpoint is for inference only). */
  optimizer: Record<string, Float32Array>
}

/** The header fields a writer supplies; the format's own fields (version, tensor list…) are filled in by `encodeCheckpoint`. */
export type HeaderInput = Omit<
  CheckpointHeader,
  'format' | 'formatVersion' | 'packageVersion' | 'createdAt' | 'tensors' | 'optimizerTensors' | 'calibration' | 'openSet'
> &
  Partial<Pick<CheckpointHeader, 'calibration' | 'openSet'>>

export function encodeCheckpoint(header: HeaderInput, values: Record<string, Float32Array>, optimizer: Record<string, Float32Array> = {}): Buffer {
  if (!isClassList(header.classes)) throw new Error(`checkpoint classes ${header.classes.join(', ')} are not distinct ascending digits`)
  const specs = parameterSpecs(networkOf(header))
  const diverged = firstNonFinite(values) ?? firstNonFinite(optimizer)
  if (diverged) throw new UserError(`training diverged: ${diverged} holds NaN or infinite values, so no checkpoint was written; lower --learning-rate`)
  const tensors = Object.entries(specs).map(([name, spec]) => {
    const value = values[name]
    if (!value || value.length !== spec.shape.reduce((a, b) => a * b, 1)) throw new Error(`checkpoint value ${name} is missing or has the wrong size`)
    return {name, shape: spec.shape}
  })
  const optimizerTensors = Object.entries(optimizer).map(([name, value]) => ({name, shape: [value.length]}))
  const full: CheckpointHeader = HeaderSchema.parse({
    format: 'digit-classification-checkpoint',
    formatVersion: FORMAT_VERSION,
    packageVersion: packageVersion(),
    createdAt: new Date().toISOString(),
    ...header,
    tensors,
    optimizerTensors,
  })
  const headerBytes = Buffer.from(JSON.stringify(CheckpointFileHeaderSchema.parse(toFileHeader(full))), 'utf8')
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

  const version = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>).format_version : undefined
  if (version !== FORMAT_VERSION) {
    throw bad(`its header is in another format (format_version ${JSON.stringify(version ?? null)}; this version reads ${FORMAT_VERSION}): train it again`)
  }

  const parsed = parseHeader(raw)
  if ('issue' in parsed) throw bad(`its header is invalid at "${parsed.issue.path.join('.')}" (${parsed.issue.message})`)
  const {header} = parsed

  const implausible = implausibleNumber(header)
  if (implausible) throw bad(implausible)
  if (!isClassList(header.classes)) throw bad(`its classes ${header.classes.join(', ')} are not two or more distinct digits 0–9 in ascending order`)
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
  for (const [tensor, spec] of Object.entries(parameterSpecs(networkOf(header)))) {
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
