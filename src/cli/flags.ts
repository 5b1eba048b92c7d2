import {Errors, Flags} from '@oclif/core'

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
