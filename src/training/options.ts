import {readFile} from 'node:fs/promises'

import {z} from 'zod'

import {BACKEND_CHOICES, type BackendChoice, DEFAULT_CLASS_COUNTS, DEFAULT_EVAL_RATIO, DEFAULT_SEED, DEFAULT_VAL_RATIO, MODEL_KINDS, TRAINING_DEFAULTS} from '../config.js'
import {formatClassCounts, parseClassCounts, type ClassCounts} from '../data/split.js'
import {UserError, errorMessage} from '../errors.js'


const ratio = (flag: string) =>
  z
    .number()
    .refine((v) => v > 0 && v < 1, {message: `${flag} must be between 0 and 1 (exclusive)`})

/**
 * A training recipe: the `train` flags by their flag names. The same schema
 * checks the command line, `--config` files and the web app's requests.
 */
export const RecipeSchema = z
  .object({
    seed: z.number().int().nonnegative().default(DEFAULT_SEED),
    'eval-ratio': ratio('eval-ratio').default(DEFAULT_EVAL_RATIO),
    'val-ratio': ratio('val-ratio').default(DEFAULT_VAL_RATIO),
    epochs: z
      .number()
      .int()
      .min(1)
      .max(TRAINING_DEFAULTS.maxEpochs, {message: `epochs must be at most ${TRAINING_DEFAULTS.maxEpochs} (the CPU budget)`})
      .default(TRAINING_DEFAULTS.epochs),
    'learning-rate': z.number().positive().max(1).default(TRAINING_DEFAULTS.learningRate),
    'batch-size': z.number().int().min(1).max(4096).default(TRAINING_DEFAULTS.batchSize),
    'num-workers': z.number().int().min(1).max(64).default(TRAINING_DEFAULTS.numWorkers),
    'class-counts': z.string().default(formatClassCounts({...DEFAULT_CLASS_COUNTS})),
    model: z.enum(MODEL_KINDS).default('cnn'),
    backend: z.enum(BACKEND_CHOICES).default('auto'),
    'run-name': z.string().min(1).max(200).optional(),
    'roc-per-class': z.boolean().default(false),
    'learning-rate-trace': z.boolean().default(false),
    'timing-stats': z.boolean().default(false),
  })
  .strict()
export type Recipe = z.infer<typeof RecipeSchema>

export interface TrainOptions {
  dataDir: string
  outputDir: string
  seed: number
  evalRatio: number
  valRatio: number
  epochs: number
  learningRate: number
  batchSize: number
  numWorkers: number
  classCounts: ClassCounts
  model: (typeof MODEL_KINDS)[number]
  backend: BackendChoice
  runName: string
  resume: boolean
  /** Replace a run already in the output folder. */
  force: boolean
  rocPerClass: boolean
  learningRateTrace: boolean
  timingStats: boolean
}

/** Turn a validated recipe plus paths into the options the run uses. */
export function toTrainOptions(recipe: Recipe, paths: {dataDir: string; outputDir: string; resume?: boolean; force?: boolean}, now = new Date()): TrainOptions {
  return {
    dataDir: paths.dataDir,
    outputDir: paths.outputDir,
    seed: recipe.seed,
    evalRatio: recipe['eval-ratio'],
    valRatio: recipe['val-ratio'],
    epochs: recipe.epochs,
    learningRate: recipe['learning-rate'],
    batchSize: recipe['batch-size'],
    numWorkers: recipe['num-workers'],
    classCounts: parseClassCounts(recipe['class-counts']),
    model: recipe.model,
    backend: recipe.backend,
    runName: recipe['run-name'] ?? defaultRunName(recipe.seed, now),
    resume: paths.resume ?? false,
    force: paths.force ?? false,
    rocPerClass: recipe['roc-per-class'],
    learningRateTrace: recipe['learning-rate-trace'],
    timingStats: recipe['timing-stats'],
  }
}

/** `run-20261122-043512-seed11122025`: sortable, and says which seed made it. */
export function defaultRunName(seed: number, now: Date): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
  return `run-${stamp}-seed${seed}`
}

/**
 * Validate a recipe; `source` names where it came from (a config file or the
 * command line) so the one error line says which key to fix.
 */
export function parseRecipe(input: Record<string, unknown>, source: 'flags' | string): Recipe {
  const result = RecipeSchema.safeParse(input)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  const key = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.join('.')
  const where = source === 'flags' ? `--${key}` : `${source}: key "${key}"`
  const what = issue.code === 'unrecognized_keys' ? `unknown key (known: ${Object.keys(RecipeSchema.shape).join(', ')})` : issue.message
  throw new UserError(`${where}: ${what}`)
}

/** Read a `--config` JSON file: an object whose keys are `train` flag names. */
export async function readRecipeFile(file: string): Promise<Record<string, unknown>> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new UserError(`--config: cannot read ${file} (${errorMessage(error)})`)
  }

  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new UserError(`--config: ${file} is not valid JSON (${errorMessage(error)})`)
  }

  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UserError(`--config: ${file} must hold a JSON object of train flags`)
  return value as Record<string, unknown>
}

/**
 * The recipe a checkpoint was trained with, by flag name: what `--resume`
 * starts from, so a resumed run keeps its data, settings and name unless a
 * flag says otherwise.
 */
export function recipeOfCheckpoint(config: Record<string, unknown>): Record<string, unknown> {
  const names: Record<string, string> = {
    seed: 'seed',
    evalRatio: 'eval-ratio',
    valRatio: 'val-ratio',
    epochs: 'epochs',
    learningRate: 'learning-rate',
    batchSize: 'batch-size',
    numWorkers: 'num-workers',
    model: 'model',
    backend: 'backend',
    runName: 'run-name',
    rocPerClass: 'roc-per-class',
    learningRateTrace: 'learning-rate-trace',
    timingStats: 'timing-stats',
  }
  const recipe: Record<string, unknown> = {}
  for (const [key, flag] of Object.entries(names)) if (config[key] !== undefined) recipe[flag] = config[key]
  const counts = config.classCounts as Record<string, number> | undefined
  if (counts) recipe['class-counts'] = Object.entries(counts).map(([label, n]) => `${label}=${n}`).join(',')
  return recipe
}
