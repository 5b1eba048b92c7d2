import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base-command.js'
import {UserError} from '../errors.js'

export default class DownloadData extends BaseCommand {
  static override description = 'Download the MNIST training and test files, verified by MD5, into a folder'

  static override examples = ['<%= config.bin %> <%= command.id %> --data-dir data']

  static override flags = {
    'data-dir': Flags.string({description: 'folder to put the four MNIST .gz files in', required: true}),
  }

  async run(): Promise<void> {
    await this.parse(DownloadData)
    throw new UserError('download-data is not available yet')
  }
}
