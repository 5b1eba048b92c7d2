import {Errors, Flags} from '@oclif/core'

import {BACKEND_CHOICES} from '../config.js'

/**
 * A decimal-number flag (oclif has integers only); range checks live in the zod
 * schemas. It throws oclif's own error class so a bad value reads like every
 * other flag error: one line, exit code 2.
 */
export const numberFlag = Flags.custom<number>({
  async parse(input) {
    const value = Number(input)
    if (input.trim() === '' || !Number.isFinite(value)) throw new Errors.CLIError(`expected a number but got "${input}"`, {exit: 2})
    return value
  },
})

/**
 * The flags several commands share, each described once; a command lists the
 * ones it takes in its `baseFlags`.
 */
export const sharedFlags = {
  'checkpoint-path': Flags.string({description: 'checkpoint written by train (best.ckpt)', required: true}),
  'data-dir': Flags.string({description: 'folder with the MNIST files, .gz or raw (see download-data)', required: true}),
  backend: Flags.option({description: 'compute engine', options: BACKEND_CHOICES, default: 'auto' as const})(),
}
