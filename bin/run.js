#!/usr/bin/env node
import {execute} from '@oclif/core'

// A reader that goes away (`predict … | head -1`, a closed terminal) is not an error worth a crash:
// stop writing to it. A run keeps going when only stderr is gone.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0)
  throw error
})
process.stderr.on('error', (error) => {
  if (error.code !== 'EPIPE') throw error
})

await execute({dir: import.meta.url})
