/**
 * The training configuration: every setting of a training run, described once.
 *
 * `TrainingConfigSchema` is the one type the library takes (`runTraining`).
 * Everything else is a view of it:
 * - the `train` flags are generated from `SETTINGS` (src/cli/training-flags.ts),
 *   named after the keys with `_` written as `-`;
 * - `--config` files and the web app's `POST /api/train` bodies are objects of
 *   these keys (snake_case, or the flag spelling);
 * - each run writes the resolved configuration as `config.json`, stores it in
 *   its checkpoints, and `run_metadata.json` repeats it as `training_config`;
 * - `resolveTrainingConfig` is the precedence merge both the CLI and the web
 *   app call: flags (or request) > `--config` file > the checkpoint on
 *   `--resume` > defaults.
 *
 * How to add a setting:
 * 1. add it to `TrainingConfigSchema` with its default (snake_case key);
 * 2. describe it in `SETTINGS`: help text, flag kind, and what `--resume` does
 *    when it is given: `apply` (used from the next epoch, recorded in
 *    config.json) or `refuse` (one error line when it differs from the
 *    checkpoint's value);
 * 3. read `config.<key>` where the setting takes effect;
 * 4. add a `--resume` test for it in test/training/config.test.ts (a test there
 *    fails until every setting has one) and a line to the README's table.
 * The flag, `--config`, the web request, config.json, the checkpoint and
 * run_metadata.json follow without further edits.
 */

import {z} from 'zod'

import {
  ALL_IMAGES,
  BACKEND_CHOICES,
  type ClassLabel,
  DEFAULT_CLASSES,
  DEFAULT_CLASS_COUNTS,
  DEFAULT_EVAL_RATIO,
  DEFAULT_SEED,
  DEFAULT_VAL_RATIO,
  DIGITS,
  LOSS_KINDS,
  MODEL_KINDS,
  SELECTIONS,
  TRAINING_DEFAULTS,
} from '../config.js'
import {NETWORK_PRESETS, presetLayers} from '../architecture.js'
import {REJECT_OPTIONS} from '../evaluation/openset.js'
import {formatClasses, isClassList, parseClasses, sameClasses} from '../data/classes.js'
import {type ClassCounts, checkClassCounts, countedClasses, formatClassCounts, parseClassCounts} from '../data/split.js'
import {UserError, errorMessage} from '../errors.js'
import {UnreadableFile, readFileLimited} from '../util/read.js'

/**
 * Version of config.json (and of the configuration stored in checkpoints). A new setting takes its default
 * where a file lacks it, so adding one keeps the version; renaming or removing one raises it.
 */
export const CONFIG_SCHEMA_VERSION = 1

/** The file each run writes its resolved configuration to. */
export const CONFIG_FILE = 'config.json'

const ratio = z.number().refine((v) => v > 0 && v < 1, {message: 'must be between 0 and 1 (exclusive)'})

/** A whole number in [min, max] whose error states that range, also for values beyond 2^53 (zod's own "expected int to be <=9007199254740991"). */
const wholeNumber = (min: number, max: number) => {
  const message = `must be a whole number from ${min} to ${max}`
  return z.int({error: message}).min(min, {message}).max(max, {message})
}

/** `2,4,6` or `0-9` (the flag) or `[2, 4, 6]` (config.json); always ascending digits once parsed. */
const ClassesSchema = z.union([z.string(), z.array(z.int())]).transform((value, ctx): ClassLabel[] => {
  try {
    return parseClasses(typeof value === 'string' ? value : value.join(','))
  } catch (error) {
    ctx.addIssue({code: 'custom', message: errorMessage(error)})
    return z.NEVER
  }
})

/**
 * LABEL=COUNT pairs (the flag), `{"3": 600, …}` (config.json), or `all` (every
 * training image of each class); an object or "all" once parsed. Whether the
 * labels are the classes is checked once both are known (`resolveTrainingConfig`).
 */
const ClassCountsSchema = z.union([z.string(), z.record(z.string(), z.unknown())]).transform((value, ctx): ClassCounts | typeof ALL_IMAGES => {
  try {
    if (typeof value === 'string') return value.trim() === ALL_IMAGES ? ALL_IMAGES : parseClassCounts(value)
    return parseClassCounts(
      Object.entries(value)
        .map(([label, n]) => `${label}=${String(n)}`)
        .join(','),
    )
  } catch (error) {
    ctx.addIssue({code: 'custom', message: errorMessage(error)})
    return z.NEVER
  }
})

/**
 * Defaults of a run of all ten digits, for the settings it is not given: the SPEC recipe suits its
 * small 0/5/8 subset, and on every training image of ten digits the `wide` network with augmentation
 * and a longer patience reads more of t10k (0.9936 against the SPEC recipe's 0.9884, README).
 */
export const TEN_DIGIT_DEFAULTS = {model: 'wide', augment: true, patience: 8} as const satisfies Partial<Record<string, unknown>>

/** The defaults that depend on the class set, for `classes` as given (unparsed); none when they are not all ten digits or cannot be read. */
function classSetDefaults(classes: unknown): Partial<Record<SettingKey, unknown>> {
  const parsed = ClassesSchema.safeParse(classes)
  return parsed.success && parsed.data.length === DIGITS.length ? {...TEN_DIGIT_DEFAULTS} : {}
}

/** The counts a run uses when none are given: the SPEC subset for the default classes, else every image of each class. */
export function defaultClassCounts(classes: readonly ClassLabel[]): ClassCounts | typeof ALL_IMAGES {
  return sameClasses(classes, DEFAULT_CLASSES) ? {...DEFAULT_CLASS_COUNTS} : ALL_IMAGES
}

export const TrainingConfigSchema = z
  .object({
    seed: wholeNumber(0, Number.MAX_SAFE_INTEGER).default(DEFAULT_SEED),
    eval_ratio: ratio.default(DEFAULT_EVAL_RATIO),
    val_ratio: ratio.default(DEFAULT_VAL_RATIO),
    epochs: z
      .int({error: `must be a whole number from 1 to ${TRAINING_DEFAULTS.maxEpochs} (the CPU budget)`})
      .min(1)
      .max(TRAINING_DEFAULTS.maxEpochs, {message: `must be at most ${TRAINING_DEFAULTS.maxEpochs} (the CPU budget)`})
      .default(TRAINING_DEFAULTS.epochs),
    learning_rate: z.number().positive().max(1).default(TRAINING_DEFAULTS.learningRate),
    batch_size: wholeNumber(1, 4096).default(TRAINING_DEFAULTS.batchSize),
    num_workers: wholeNumber(1, 64).default(TRAINING_DEFAULTS.numWorkers),
    classes: ClassesSchema.default([...DEFAULT_CLASSES]),
    /** Filled with `defaultClassCounts(classes)` by `resolveTrainingConfig` when not given. */
    class_counts: ClassCountsSchema.optional(),
    model: z.enum(MODEL_KINDS).default('cnn'),
    backend: z.enum(BACKEND_CHOICES).default('auto'),
    /** Filled with `defaultRunName` by `resolveTrainingConfig` when not given. */
    run_name: z.string().min(1).max(200).optional(),
    roc_per_class: z.boolean().default(false),
    learning_rate_trace: z.boolean().default(false),
    timing_stats: z.boolean().default(false),
    augment: z.boolean().default(false),
    selection: z.enum(SELECTIONS).default('f1'),
    patience: wholeNumber(1, TRAINING_DEFAULTS.maxEpochs).default(TRAINING_DEFAULTS.earlyStoppingPatience),
    calibrate: z.boolean().default(true),
    ema_decay: z.number().min(0).lt(1).default(0),
    loss: z.enum(LOSS_KINDS).default('weighted'),
    reject: z.enum(REJECT_OPTIONS).default('none'),
  })
  .strict()

/**
 * config.json as each run writes it (`configDocument`): every setting resolved,
 * the class counts as the object their transform gives, a version. Published
 * as schema/config.schema.json.
 */
export const ConfigFileSchema = TrainingConfigSchema.extend({
  schema_version: z.literal(CONFIG_SCHEMA_VERSION).describe("version of this file's shape"),
  classes: z
    .array(z.int().min(0).max(9))
    .min(2)
    .refine(isClassList, 'distinct digits in ascending order')
    .describe('the digits the model knows, in logit order'),
  class_counts: z
    .union([z.record(z.string().regex(/^\d$/), z.int().positive()), z.literal(ALL_IMAGES)])
    .describe('images per class in the curated subset (one key per class), or "all": every training image of each class'),
  run_name: z.string().min(1).max(200),
}).meta({title: 'config.json', description: 'The resolved training configuration of a run; `train --config <run>/config.json` reproduces the run.'})

/** A resolved training configuration: what a run was trained with (config.json). */
export type TrainingConfig = Omit<z.output<typeof TrainingConfigSchema>, 'class_counts'> & {run_name: string; class_counts: ClassCounts | typeof ALL_IMAGES}
export type SettingKey = keyof z.output<typeof TrainingConfigSchema>

/** What `--resume` does with a setting given on the command line, in `--config` or in a request. */
export type ResumePolicy = 'apply' | 'refuse'

export interface SettingInfo {
  /** `--help` text; the default is appended from the schema. */
  help: string
  flag: 'integer' | 'number' | 'string' | 'boolean'
  options?: readonly string[]
  /** Shown in place of the schema's default in `--help`. */
  defaultText?: string
  resume: ResumePolicy
  /** Why `--resume` refuses it: ends the refusal's error line. */
  why?: string
}

const SPLIT_REASON = 'it changes the subset and its splits'

/** Flag help and `--resume` policy of every setting; the compiler keeps it in step with the schema. */
export const SETTINGS = {
  seed: {flag: 'integer', help: 'seed for the subset, the splits, the initial weights and shuffling', resume: 'refuse', why: SPLIT_REASON},
  eval_ratio: {flag: 'number', help: 'share of the subset held out for evaluation', resume: 'refuse', why: SPLIT_REASON},
  val_ratio: {flag: 'number', help: 'share of the rest used for validation', resume: 'refuse', why: SPLIT_REASON},
  epochs: {flag: 'integer', help: `maximum epochs, at most ${TRAINING_DEFAULTS.maxEpochs}`, resume: 'apply'},
  learning_rate: {flag: 'number', help: 'Adam learning rate (on --resume: the rate from the next epoch on)', resume: 'apply'},
  batch_size: {flag: 'integer', help: 'training batch size', resume: 'refuse', why: "the epochs already trained used the checkpoint's"},
  num_workers: {
    flag: 'integer',
    help: "compute threads for the engine (wasm: its thread pool; node: TensorFlow's intra-op threads)",
    resume: 'apply',
  },
  classes: {
    flag: 'string',
    help: 'the digits the model knows: a list and ranges of digits, e.g. 3,7 or 0-9 (at least two)',
    resume: 'refuse',
    why: "the checkpoint's network has one output per class",
  },
  class_counts: {
    flag: 'string',
    help: 'images per class in the curated subset, LABEL=COUNT for each class, or all (every training image of each)',
    defaultText: `${formatClassCounts(DEFAULT_CLASS_COUNTS)} for the default classes, else all`,
    resume: 'refuse',
    why: SPLIT_REASON,
  },
  model: {
    flag: 'string',
    help: `network: ${NETWORK_PRESETS.map((preset) => `${preset} (${presetLayers(preset)})`).join(', ')}; cnn is the SPEC's, softmax a fast baseline`,
    options: MODEL_KINDS,
    defaultText: `cnn; ${TEN_DIGIT_DEFAULTS.model} for all ten digits`,
    resume: 'refuse',
    why: 'the checkpoint holds that network',
  },
  backend: {flag: 'string', help: 'auto: native tfjs-node if installed, else wasm', options: BACKEND_CHOICES, resume: 'apply'},
  run_name: {flag: 'string', help: 'name recorded in run_metadata.json', defaultText: 'run-<timestamp>-seed<seed>', resume: 'apply'},
  roc_per_class: {flag: 'boolean', help: 'also write roc_curves.json and roc_curves.png', resume: 'apply'},
  learning_rate_trace: {flag: 'boolean', help: 'also write training_dynamics.json and training_dynamics.png', resume: 'apply'},
  timing_stats: {flag: 'boolean', help: 'also write timing_stats.json and timing_stats.png', resume: 'apply'},
  augment: {
    flag: 'boolean',
    help: 'random affine distortions of the training images each epoch (rotation ±10°, scale ±10%, shift ±2 px), seeded by --seed and the epoch',
    defaultText: 'off; on for all ten digits (--no-augment: off)',
    resume: 'apply',
  },
  selection: {
    flag: 'string',
    help: 'best epoch and early stopping by: f1 (validation macro F1, as SPEC), f1-loss (ties broken by lower validation loss), loss (lower validation loss)',
    options: SELECTIONS,
    resume: 'refuse',
    why: "the best epoch so far was chosen by the checkpoint's",
  },
  patience: {
    flag: 'integer',
    help: 'epochs without improvement (see --selection) before early stopping',
    defaultText: `${TRAINING_DEFAULTS.earlyStoppingPatience}; ${TEN_DIGIT_DEFAULTS.patience} for all ten digits`,
    resume: 'apply',
  },
  calibrate: {
    flag: 'boolean',
    help: "fit a temperature on the validation split after training and store it in best.ckpt (--no-calibrate: keep the network's own probabilities)",
    resume: 'apply',
  },
  ema_decay: {
    flag: 'number',
    help: 'keep an exponential moving average of the weights with this decay per step (e.g. 0.995) and validate, checkpoint and predict with it; 0: off',
    resume: 'refuse',
    why: "the checkpoint's weights are (or are not) an average",
  },
  loss: {
    flag: 'string',
    help: 'weighted (class-weighted cross-entropy, as SPEC), or logit-adjusted (cross-entropy of logits + log class prior of the training split; predictions use the raw logits)',
    options: LOSS_KINDS,
    resume: 'refuse',
    why: "the epochs already trained minimised the checkpoint's",
  },
  reject: {
    flag: 'string',
    help: "how best.ckpt tells its digits from others: none (a score from the logits, thresholded on the validation split), or other-digits (a reject head fitted after training on the network's features, with the training file's other digits as negatives)",
    options: REJECT_OPTIONS,
    resume: 'apply',
  },
} as const satisfies Record<SettingKey, SettingInfo>

export const SETTING_KEYS = Object.keys(TrainingConfigSchema.shape) as SettingKey[]

/** `learning_rate` → `learning-rate`. */
export function flagName(key: SettingKey): string {
  return key.replaceAll('_', '-')
}

/** The default shown in `--help`. */
export function defaultText(key: SettingKey): string | undefined {
  const info: SettingInfo = SETTINGS[key]
  if (info.defaultText) return info.defaultText
  const value = TrainingConfigSchema.shape[key].parse(undefined)
  if (value === undefined || value === false) return undefined
  return key === 'classes' ? formatClasses(value as ClassLabel[]) : String(value)
}

/** A key as written in any view (`learning_rate`, `learning-rate`, `learningRate`) → the setting it names, or undefined. */
function settingOf(name: string): SettingKey | undefined {
  const key = name.replaceAll('-', '_').replaceAll(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
  return (SETTING_KEYS as string[]).includes(key) ? (key as SettingKey) : undefined
}

/** One layer of settings, by setting key, with where each came from. */
interface Layer {
  values: Partial<Record<SettingKey, unknown>>
  /** The spelling each key was given in, for error messages. */
  spelled: Partial<Record<SettingKey, string>>
  /** `flags` (the command line), or a file name, or "request body". */
  source: string
}

function describeKey(source: string, spelled: string): string {
  return source === 'flags' ? `--${spelled}` : `${source}: key "${spelled}"`
}

/** Read one view's object into a layer; unknown keys are an error naming the key. */
function toLayer(input: Record<string, unknown>, source: string): Layer {
  const layer: Layer = {values: {}, spelled: {}, source}
  const unknown: string[] = []
  for (const [name, value] of Object.entries(input)) {
    if (value === undefined) continue
    const key = settingOf(name)
    if (!key || (source === 'flags' && name !== flagName(key))) {
      unknown.push(name)
      continue
    }

    if (layer.spelled[key] !== undefined) throw new UserError(`${describeKey(source, name)}: given twice (also as "${layer.spelled[key]}")`)
    layer.values[key] = value
    layer.spelled[key] = name
  }

  if (unknown.length > 0) {
    throw new UserError(
      `${describeKey(source, unknown.join(', '))}: unknown key (known: ${SETTING_KEYS.map((k) => (source === 'flags' ? flagName(k) : k)).join(', ')})`,
    )
  }

  return layer
}

let partialConfigSchema: ReturnType<typeof TrainingConfigSchema.partial> | undefined

/** Check a layer on its own, so an error names the source and the key as the user wrote it. */
function checkLayer(layer: Layer): void {
  // Built once: zod compiles a schema's parser on its first use, so a new schema per layer costs that each time.
  partialConfigSchema ??= TrainingConfigSchema.partial()
  const result = partialConfigSchema.safeParse(layer.values)
  if (result.success) return
  const issue = result.error.issues[0]
  const key = String(issue.path[0]) as SettingKey
  const spelled = layer.spelled[key] ?? key
  const message = issue.message.startsWith('must ') ? `${spelled} ${issue.message}` : issue.message
  throw new UserError(`${describeKey(layer.source, spelled)}: ${message}`)
}

/** `run-20261122-043512-seed11122025`: sortable, and says which seed made it. */
export function defaultRunName(seed: number, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
  return `run-${stamp}-seed${seed}`
}

export interface ConfigSources {
  /** Settings from the command line (by flag name) or a web request (by any spelling). */
  flags?: Record<string, unknown>
  /** Where `flags` came from: `flags` (default) or e.g. "request body". */
  flagsSource?: string
  /** A `--config` file: its contents and its name. */
  file?: {values: Record<string, unknown>; source: string}
  /** The configuration stored in the checkpoint a run resumes from. */
  checkpoint?: Record<string, unknown>
  /** Time for the default run name. */
  now?: Date
}

/**
 * The precedence merge: flags > `--config` file > checkpoint (on `--resume`) >
 * defaults. On resume, a `refuse` setting given in flags or the file with a
 * value other than the checkpoint's is one error line; `apply` settings win.
 */
export function resolveTrainingConfig(sources: ConfigSources): TrainingConfig {
  const layers: Layer[] = []
  if (sources.checkpoint) layers.push(checkpointLayer(sources.checkpoint))
  if (sources.file) layers.push(toLayer(sources.file.values, sources.file.source))
  if (sources.flags) layers.push(toLayer(sources.flags, sources.flagsSource ?? 'flags'))
  for (const layer of layers) checkLayer(layer)

  const given: Partial<Record<SettingKey, unknown>> = {}
  for (const layer of layers) Object.assign(given, layer.values)
  const merged = {...classSetDefaults(given.classes), ...given}
  const parsed = TrainingConfigSchema.parse(merged)
  const config = {...parsed, class_counts: parsed.class_counts ?? defaultClassCounts(parsed.classes)}
  if (sources.checkpoint) {
    const savedParsed = TrainingConfigSchema.parse(layers[0].values)
    const saved = {...savedParsed, class_counts: savedParsed.class_counts ?? defaultClassCounts(savedParsed.classes)}
    for (const layer of layers.slice(1)) {
      for (const key of Object.keys(layer.values) as SettingKey[]) {
        const info: SettingInfo = SETTINGS[key]
        if (info.resume !== 'refuse') continue
        const given = TrainingConfigSchema.shape[key].parse(layer.values[key])
        if (!sameValue(given, saved[key])) {
          throw new UserError(
            `${describeKey(layer.source, layer.spelled[key] ?? key)}: cannot change on --resume (last.ckpt was trained with ${show(saved[key])}; ${info.why}); drop it, or train a new run in another --output-dir`,
          )
        }
      }
    }
  }

  // After the --resume check: a changed class list is refused as such, not as counts that no longer fit it.
  if (config.class_counts !== ALL_IMAGES) {
    try {
      checkClassCounts(config.class_counts, config.classes)
    } catch (error) {
      // Name where the counts came from: the classes may come from another layer.
      const from = [...layers].reverse().find((layer) => layer.values.class_counts !== undefined)
      if (!from) throw error
      throw new UserError(`${describeKey(from.source, from.spelled.class_counts ?? 'class_counts')}: ${errorMessage(error)}`)
    }
  }

  if (config.reject === 'other-digits' && config.classes.length === DIGITS.length) {
    const from = [...layers].reverse().find((layer) => layer.values.reject !== undefined)
    throw new UserError(
      `${describeKey(from?.source ?? 'flags', from?.spelled.reject ?? 'reject')}: other-digits needs digits the model does not know, and it knows all ten; use none`,
    )
  }

  return {...config, run_name: config.run_name ?? defaultRunName(config.seed, sources.now ?? new Date())}
}

/** Checkpoints store the resolved configuration; older ones stored camelCase keys and extras. */
function checkpointLayer(stored: Record<string, unknown>): Layer {
  const known = Object.fromEntries(Object.entries(stored).filter(([name]) => settingOf(name) !== undefined))
  return toLayer(known, 'last.ckpt')
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

function show(value: unknown): string {
  if (Array.isArray(value)) return formatClasses(value as ClassLabel[])
  return typeof value === 'object' && value !== null ? formatClassCounts(value as ClassCounts) : String(value)
}

/** config.json: the resolved configuration, versioned, keys in schema order. */
export function configDocument(config: TrainingConfig): Record<string, unknown> {
  const ordered: Record<string, unknown> = Object.fromEntries(SETTING_KEYS.map((key) => [key, config[key]]))
  const counts = config.class_counts
  ordered.class_counts = counts === ALL_IMAGES ? ALL_IMAGES : Object.fromEntries(countedClasses(counts).map((c) => [String(c), counts[c]]))
  return {schema_version: CONFIG_SCHEMA_VERSION, ...ordered}
}

/** The configuration as run_metadata.json's `training_config` shows it: config.json without its version. */
export function trainingConfigView(
  config: TrainingConfig,
): Record<string, unknown> & {epochs: number; batch_size: number; learning_rate: number; seed: number} {
  const {schema_version: _, ...settings} = configDocument(config)
  return {...settings, epochs: config.epochs, batch_size: config.batch_size, learning_rate: config.learning_rate, seed: config.seed}
}

/** Far above any settings file (a run's config.json is under 1 KiB). */
const MAX_CONFIG_BYTES = 1024 * 1024

/** Read a `--config` JSON file: an object of settings (config.json of a run, or a hand-written recipe). */
export async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  let text: string
  try {
    // Bounded and regular files only: /dev/zero or a FIFO is an error line, not a hang or an out-of-memory.
    // A UTF-8 byte-order mark (as some Windows editors write) is not part of the JSON.
    text = (await readFileLimited(file, MAX_CONFIG_BYTES)).toString('utf8').replace(/^\uFEFF/, '')
  } catch (error) {
    throw new UserError(`--config: cannot read ${file} (${error instanceof UnreadableFile ? error.reason : errorMessage(error)})`)
  }

  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new UserError(`--config: ${file} is not valid JSON (${errorMessage(error)})`)
  }

  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UserError(`--config: ${file} must hold a JSON object of train settings`)
  const {schema_version: version, ...settings} = value as Record<string, unknown>
  if (version !== undefined && version !== CONFIG_SCHEMA_VERSION) {
    throw new UserError(`--config: ${file} has schema_version ${JSON.stringify(version)}; this version reads ${CONFIG_SCHEMA_VERSION}`)
  }

  return settings
}

/**
 * The configuration of a run from what a user gave: the one entry point of the
 * CLI and the web app. Reads the `--config` file and, on `--resume`, the
 * configuration stored in `<resumeFrom>/last.ckpt`, then merges them.
 */
export async function resolveRunConfig(input: {
  flags?: Record<string, unknown>
  flagsSource?: string
  configFile?: string
  /** The output folder of a run to resume. */
  resumeFrom?: string
  now?: Date
}): Promise<TrainingConfig> {
  const file = input.configFile ? {values: await readConfigFile(input.configFile), source: input.configFile} : undefined
  let checkpoint: Record<string, unknown> | undefined
  if (input.resumeFrom) {
    // Loaded lazily: the checkpoint module brings the network, which flag parsing does not need.
    const {loadCheckpoint} = await import('../model/checkpoint.js')
    const {join} = await import('node:path')
    checkpoint = (await loadCheckpoint(join(input.resumeFrom, 'last.ckpt'))).header.training.config
  }

  return resolveTrainingConfig({flags: input.flags, flagsSource: input.flagsSource, file, checkpoint, now: input.now})
}
