import {join} from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {numberFlag} from '../cli/flags.js'
import {BACKEND_CHOICES, DEFAULT_EVAL_RATIO, DEFAULT_SEED, DEFAULT_VAL_RATIO, MODEL_KINDS, TRAINING_DEFAULTS} from '../config.js'

export default class Train extends BaseCommand {
  static override description = `Train the CNN (or a softmax baseline) on the curated MNIST subset

Curates the 0/5/8 subset from --data-dir, splits it (evaluation first, then validation), and trains with class-weighted cross-entropy, Adam, reduce-on-plateau and early stopping on val_f1_macro. Writes best.ckpt, last.ckpt, logs/metrics.csv and logs/metrics.json and the run artifacts to --output-dir, progress to stderr, and a JSON summary to stdout.

Flags left out take their values from --config (a JSON object keyed by flag name), then from the defaults.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --data-dir data --output-dir runs/first',
    '<%= config.bin %> <%= command.id %> --data-dir fixtures/mnist --output-dir runs/small --class-counts 8=350,0=120,5=30 --epochs 5',
    '<%= config.bin %> <%= command.id %> --data-dir data --output-dir runs/first --resume --epochs 20',
    '<%= config.bin %> <%= command.id %> --data-dir data --output-dir runs/team --config config.example.json --seed 7',
  ]

  static override flags = {
    'data-dir': Flags.string({description: 'folder with the MNIST .gz files (see download-data)', required: true}),
    'output-dir': Flags.string({description: 'folder for checkpoints, logs and artifacts', required: true}),
    config: Flags.string({description: 'JSON recipe keyed by flag name; flags on the command line win'}),
    seed: Flags.integer({description: `seed for the subset, the splits, the initial weights and shuffling [default: ${DEFAULT_SEED}]`}),
    'eval-ratio': numberFlag({description: `share of the subset held out for evaluation [default: ${DEFAULT_EVAL_RATIO}]`}),
    'val-ratio': numberFlag({description: `share of the rest used for validation [default: ${DEFAULT_VAL_RATIO}]`}),
    epochs: Flags.integer({description: `maximum epochs, at most ${TRAINING_DEFAULTS.maxEpochs} [default: ${TRAINING_DEFAULTS.epochs}]`}),
    'learning-rate': numberFlag({description: `Adam learning rate [default: ${TRAINING_DEFAULTS.learningRate}]`}),
    'batch-size': Flags.integer({description: `training batch size [default: ${TRAINING_DEFAULTS.batchSize}]`}),
    'num-workers': Flags.integer({
      description: `compute threads for the engine (wasm: its thread pool; node: TensorFlow's intra-op threads) [default: ${TRAINING_DEFAULTS.numWorkers}]`,
    }),
    'class-counts': Flags.string({description: 'images per class in the curated subset [default: 8=3500,0=1200,5=300]'}),
    model: Flags.string({description: 'cnn, or softmax (a fast multinomial logistic regression baseline) [default: cnn]', options: [...MODEL_KINDS]}),
    backend: Flags.string({description: 'auto: native tfjs-node if installed, else wasm [default: auto]', options: [...BACKEND_CHOICES]}),
    'run-name': Flags.string({description: 'name recorded in run_metadata.json [default: run-<timestamp>-seed<seed>]'}),
    resume: Flags.boolean({description: 'continue from last.ckpt in --output-dir, with its settings unless flags say otherwise', exclusive: ['force']}),
    force: Flags.boolean({description: 'replace a run already in --output-dir'}),
    'roc-per-class': Flags.boolean({description: 'also write roc_curves.json and roc_curves.png'}),
    'learning-rate-trace': Flags.boolean({description: 'also write training_dynamics.json and training_dynamics.png'}),
    'timing-stats': Flags.boolean({description: 'also write timing_stats.json and timing_stats.png'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Train)
    const {parseRecipe, readRecipeFile, recipeOfCheckpoint, toTrainOptions} = await import('../training/options.js')
    const fromFile = flags.config ? await readRecipeFile(flags.config) : {}
    if (flags.config) parseRecipe(fromFile, flags.config)
    const {'data-dir': dataDir, 'output-dir': outputDir, config, resume, force, ...given} = flags
    const fromFlags = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined && v !== false))
    // Precedence: the resumed checkpoint's settings, then the --config file, then the command line.
    let fromCheckpoint: Record<string, unknown> = {}
    if (resume) {
      const {loadCheckpoint} = await import('../model/checkpoint.js')
      fromCheckpoint = recipeOfCheckpoint((await loadCheckpoint(join(outputDir, 'last.ckpt'))).header.training.config)
    }

    const recipe = parseRecipe({...fromCheckpoint, ...fromFile, ...fromFlags}, 'flags')
    const options = toTrainOptions(recipe, {dataDir, outputDir, resume, force})
    const {runTraining} = await import('../training/run.js')
    const summary = await runTraining(options)
    this.printJson(summary)
  }
}
