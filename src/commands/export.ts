import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {sharedFlags} from '../cli/flags.js'

export default class Export extends BaseCommand {
  static override enableJsonFlag = true

  static override description = `Export a checkpoint as a TensorFlow.js Layers model (model.json + weights.<hash>.bin)

Load it in a browser or Node with tf.loadLayersModel('…/model.json'). The model takes images [B, 28, 28, 1] with values in [0, 1], white ink on black (MNIST-preprocessed, as predict prepares them), normalises them itself in its first layer with the checkpoint's statistics, and outputs the probabilities of the checkpoint's classes in ascending order. model.json's userDefinedMetadata records the classes and the normalisation.`

  static override examples = ['<%= config.bin %> <%= command.id %> --checkpoint-path runs/first/best.ckpt --output-dir web-model']

  static override baseFlags = {'checkpoint-path': sharedFlags['checkpoint-path']}

  static override flags = {
    'output-dir': Flags.string({
      description: 'folder for model.json and its weights file (created if missing; a previous export there is replaced)',
      required: true,
    }),
    json: Flags.boolean({description: 'print the JSON summary (it always is: the flag is accepted as by every command with JSON output)'}),
  }

  async run(): Promise<object | undefined> {
    const {flags} = await this.parse(Export)
    const {exportModel} = await import('../model/export.js')
    const summary = await exportModel(flags['checkpoint-path'], flags['output-dir'])
    // The summary is the output with or without --json.
    if (this.jsonEnabled()) return summary
    this.printJson(summary)
    return undefined
  }
}
