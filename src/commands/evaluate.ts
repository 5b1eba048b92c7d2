import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {sharedFlags} from '../cli/flags.js'
import {UserError} from '../errors.js'
import {ALL_SPLIT_NAMES, EVALUATE_DEFAULTS} from '../config.js'
import type {EvaluateOutput} from '../artifacts/outputs.js'
import {ECE_BINS} from '../evaluation/calibration.js'

export default class Evaluate extends BaseCommand {
  static override enableJsonFlag = true

  static override description = `Evaluate a checkpoint: classification report and confusion matrix

Rebuilds the split the checkpoint was trained with (its seed, ratios and class counts) from --data-dir, checks its fingerprint, and evaluates with the checkpoint's normalisation. --split test evaluates on every image of the official MNIST test set (t10k) of the checkpoint's classes, which training never sees.`

  static override examples = [
    '<%= config.bin %> <%= command.id %> --checkpoint-path runs/first/best.ckpt --data-dir data',
    '<%= config.bin %> <%= command.id %> --checkpoint-path runs/first/best.ckpt --data-dir data --split test --json',
  ]

  static override baseFlags = {
    'checkpoint-path': sharedFlags['checkpoint-path'],
    'data-dir': sharedFlags['data-dir'],
    backend: sharedFlags.backend,
  }

  static override flags = {
    split: Flags.option({description: 'which split to evaluate', options: ALL_SPLIT_NAMES, default: 'eval' as const})(),
    'batch-size': Flags.integer({description: 'images per inference batch', default: EVALUATE_DEFAULTS.batchSize, min: 1}),
    'num-workers': Flags.integer({description: 'compute threads for the engine', default: EVALUATE_DEFAULTS.numWorkers, min: 1}),
    'output-dir': Flags.string({
      description: "also write this split's predictions.json, confusion_matrix.png and gallery.png here (suffixed _val, _train or _test for those splits)",
    }),
    'roc-per-class': Flags.boolean({description: 'with --output-dir, also write one-vs-rest ROC curves (JSON and PNG)', dependsOn: ['output-dir']}),
    calibrate: Flags.boolean({
      description: "apply the checkpoint's fitted temperature to the probabilities (--no-calibrate: the network's own); predictions never change",
      default: true,
      allowNo: true,
    }),
    json: Flags.boolean({
      description: 'print the report as JSON instead of tables (ece: expected calibration error in 15 bins, before and after temperature scaling)',
    }),
  }

  async run(): Promise<object | undefined> {
    const {flags} = await this.parse(Evaluate)
    const [{runEvaluation}, {formatClassificationReport, formatConfusionMatrix}] = await Promise.all([
      import('../training/run-evaluation.js'),
      import('../evaluation/report.js'),
    ])
    const {split} = flags
    const {NotEnoughImages} = await import('../data/split.js')
    const {checkpointId, evaluation} = await runEvaluation(
      {
        checkpointPath: flags['checkpoint-path'],
        dataDir: flags['data-dir'],
        split,
        batchSize: flags['batch-size'],
        backend: flags.backend,
        threads: flags['num-workers'],
        calibrate: flags.calibrate,
        outputDir: flags['output-dir'],
        rocPerClass: flags['roc-per-class'],
      },
      {note: (line) => this.note(line)},
    ).catch((error: unknown) => {
      // The class counts are the checkpoint's, not a setting of evaluate: the fix is the data it was trained on.
      if (error instanceof NotEnoughImages) {
        throw new UserError(
          `${flags['data-dir']} holds fewer images than the split this checkpoint was trained with (${error.shortfall}); evaluate with the data it was trained on`,
          {
            code: error.code,
            setting: 'data_dir',
          },
        )
      }

      throw error
    })
    if (this.jsonEnabled()) {
      const output: EvaluateOutput = {
        checkpoint: flags['checkpoint-path'],
        checkpoint_id: checkpointId,
        split,
        fingerprint: evaluation.fingerprint,
        report: evaluation.report,
        temperature: evaluation.calibration.temperature,
        ece: {bins: ECE_BINS, ...evaluation.calibration.ece},
        open_set: evaluation.openSet && {
          score: evaluation.openSet.score,
          threshold: evaluation.openSet.threshold,
          known_rate: evaluation.openSet.knownRate,
        },
      }
      return output
    }

    const {temperature, ece} = evaluation.calibration
    const {openSet} = evaluation
    const openSetLine = openSet
      ? `open set (${openSet.score}, threshold ${openSet.threshold.toPrecision(4)} fitted on val)  known-rate ${(openSet.knownRate * 100).toFixed(2)}% of ${evaluation.predicted.length} images`
      : 'open set: none stored in this checkpoint (trained by an earlier version): every image with a stroke is answered as known'
    process.stdout.write(
      `${formatClassificationReport(evaluation.report)}\n\n` +
        `calibration (${ECE_BINS}-bin ECE)  before ${ece.before.toFixed(4)}  after ${ece.after.toFixed(4)}  temperature ${temperature.toFixed(4)}\n` +
        `${openSetLine}\n\n` +
        `confusion matrix (${split}, rows: true label, columns: predicted)\n${formatConfusionMatrix(evaluation.report)}\n`,
    )

    return undefined
  }
}
