import {join} from 'node:path'

import {Flags} from '@oclif/core'

import {BaseCommand, SIGNAL_EXIT_CODES} from '../cli/base-command.js'
import {sharedFlags} from '../cli/flags.js'
import {negatable, trainingFlags} from '../cli/training-flags.js'
import {UserError} from '../errors.js'
import type {TrainSummary} from '../training/run.js'

export default class Train extends BaseCommand {
  static override enableJsonFlag = true

  static override description = `Train the CNN (or a softmax baseline) on the curated MNIST subset

Curates the subset of the digits given by --classes from --data-dir, splits it (evaluation first, then validation), and trains with class-weighted cross-entropy, Adam, reduce-on-plateau and early stopping on val_f1_macro. Writes best.ckpt, last.ckpt, logs/metrics.csv and logs/metrics.json, the run artifacts and the resolved settings (config.json) to --output-dir, progress to stderr, and a JSON summary to stdout.

Settings left out take their values from --config (a JSON object of settings, e.g. a run's config.json, which reproduces that run), then, with --resume, from last.ckpt, then from the defaults. On --resume, settings marked "fixed on --resume" are refused when they differ from last.ckpt's; the others apply from the next epoch and are recorded.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --data-dir data --output-dir runs/first',
    {
      description: 'A quick run on the small bundled sample (after `download-data --data-dir sample --source sample`)',
      command: '<%= config.bin %> <%= command.id %> --data-dir sample --output-dir runs/small --class-counts 0=171,5=42,8=500 --epochs 5',
    },
    '<%= config.bin %> <%= command.id %> --data-dir data --output-dir runs/first --resume --epochs 20',
    {
      description:
        'All ten digits, every training image of each (all ten default to the wide network, augmentation and patience 8; recipes/digits.json spells them out)',
      command: '<%= config.bin %> <%= command.id %> --data-dir data --output-dir runs/digits --classes 0-9 --class-counts all',
    },
    '<%= config.bin %> <%= command.id %> --data-dir data --output-dir runs/team --config team-recipe.json --seed 7',
    '<%= config.bin %> <%= command.id %> --data-dir data --output-dir runs/again --config runs/first/config.json',
  ]

  static override baseFlags = {'data-dir': sharedFlags['data-dir']}

  static override flags = {
    'output-dir': Flags.string({description: 'folder for checkpoints, logs and artifacts', required: true}),
    config: Flags.string({description: "JSON object of settings (e.g. a run's config.json); flags on the command line win"}),
    resume: Flags.boolean({description: 'continue from last.ckpt in --output-dir, with its settings unless flags say otherwise', exclusive: ['force']}),
    force: Flags.boolean({description: 'replace a run already in --output-dir'}),
    json: Flags.boolean({description: 'print the JSON summary on stdout also on a terminal (it is printed whenever stdout is not one)'}),
    ...trainingFlags(),
  }

  async run(): Promise<TrainSummary | undefined> {
    const {flags} = await this.parse(Train)
    const {'data-dir': dataDir, 'output-dir': outputDir, config, resume, force, json, ...given} = flags
    // Boolean flags left out parse as false: only a given switch counts as set (and a --no-… switch, which is undefined when left out).
    const fromFlags = Object.fromEntries(Object.entries(given).filter(([key, v]) => v !== undefined && (v !== false || negatable(key))))
    // The training files are read on the I/O threads while the modules below load.
    ;(await import('../data/dataset.js')).prefetchTrainingFiles(dataDir)
    const {resolveRunConfig} = await import('../training/config.js')
    const resolved = await resolveRunConfig({flags: fromFlags, configFile: config, resumeFrom: resume ? outputDir : undefined})
    const [{runTraining}, {TrainingInterrupted, interruptionMessage}, {createProgress}, {printable, printableStream}, {NotEnoughImages, formatClassCounts}] =
      await Promise.all([
        import('../training/run.js'),
        import('../training/interrupt.js'),
        import('../cli/progress.js'),
        import('../util/printable.js'),
        import('../data/split.js'),
      ])
    let summary: TrainSummary
    try {
      // Ctrl-C (or SIGTERM) stops before the next batch and says how to resume; a second one quits at once.
      summary = await this.whileRunning(
        (signal) =>
          runTraining(
            {config: resolved, dataDir, outputDir, resume, force},
            {signal, progress: printableStream(process.stderr), progressBar: (bar) => createProgress({...bar, unit: 'items', stream: process.stderr})},
          ),
        () => new TrainingInterrupted(),
      )
    } catch (error) {
      // Counts that fit the data are this command's to suggest: it has the flag that takes them.
      if (error instanceof NotEnoughImages && error.suggestion) {
        throw new UserError(
          `the class counts ask for more images than the data holds (${error.shortfall}); use e.g. --class-counts ${formatClassCounts(error.suggestion)} (the same proportions, within what every class holds), or --class-counts all`,
          {code: error.code},
        )
      }

      if (!(error instanceof TrainingInterrupted)) throw error
      this.note(`\n${await interruptionMessage(outputDir, dataDir, this.config.bin)}`)
      this.exit(SIGNAL_EXIT_CODES[this.stoppedBy ?? 'SIGINT'])
    }

    // Scripts read the JSON; a person at a terminal reads what matters of it.
    if (json || this.jsonEnabled()) return summary
    if (!process.stdout.isTTY) this.printJson(summary)
    else process.stdout.write(printable(formatTrainSummary(summary)))
    return undefined
  }
}

/** The end of a run for a person: the best epoch, its scores, and where its checkpoint is. */
function formatTrainSummary(summary: TrainSummary): string {
  const {val, eval: evaluation} = summary.metrics
  const ended = summary.stop_reason
    ? `stopped early after epoch ${summary.epochs} (${summary.stop_reason})`
    : `trained ${summary.epochs} epoch${summary.epochs === 1 ? '' : 's'}`
  return (
    `${ended}; best epoch ${summary.best_epoch}: validation macro-F1 ${val.f1_macro.toFixed(4)}, evaluation macro-F1 ${evaluation.f1_macro.toFixed(4)} ` +
    `(accuracy ${evaluation.accuracy.toFixed(4)} on ${evaluation.samples.toLocaleString('en-US')} images)\n` +
    `best.ckpt: ${join(summary.output_dir, 'best.ckpt')}  (${summary.files.length} files in ${summary.output_dir}; --json prints the full summary)\n`
  )
}
