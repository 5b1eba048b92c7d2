import {Flags} from '@oclif/core'

/** A decimal-number flag (oclif has integers only); range checks live in the zod schemas. */
export const numberFlag = Flags.custom<number>({
  async parse(input) {
    const value = Number(input)
    if (input.trim() === '' || !Number.isFinite(value)) throw new Error(`expected a number but got "${input}"`)
    return value
  },
})
