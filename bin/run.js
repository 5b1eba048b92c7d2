#!/usr/bin/env node
// Colour is for terminals: oclif's colour library also turns it on whenever CI is set,
// which writes escape codes into piped logs. Decided before oclif loads (it reads the
// environment once); FORCE_COLOR still wins.
if (!process.stderr.isTTY && process.env.FORCE_COLOR === undefined) process.env.NO_COLOR ??= '1'
const {execute} = await import('@oclif/core')

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
