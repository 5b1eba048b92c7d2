#!/usr/bin/env node
// The first thing that runs: an unsupported Node fails in one line before any dependency loads
// (older Nodes would warn, train several times slower, or crash in the web server). This file
// stays plain JavaScript that every Node since 12 parses; everything else is imported after it.
const [major, minor] = process.versions.node.split('.').map(Number)
if (!(major === 24 || (major === 22 && minor >= 19) || major > 24)) {
  process.stderr.write(`Error: digit-classification needs Node.js 22.19+ or 24; this is ${process.version}\n`)
  process.exit(1)
}

// Colour is for terminals: oclif's colour library also turns it on whenever CI is set,
// which writes escape codes into piped logs. Decided before oclif loads (it reads the
// environment once); FORCE_COLOR still wins.
if (!process.stderr.isTTY && process.env.FORCE_COLOR === undefined) process.env.NO_COLOR ??= '1'
// The Node version is checked above; oclif would check it again against its own range, loading a semver library to do so.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'
// Compiled code of the package and its dependencies kept on disk between runs (in the system's temporary folder), for
// this thread and the worker threads it starts: a run then loads its modules in a fraction of the time.
const {enableCompileCache} = await import('node:module')
if (enableCompileCache) enableCompileCache()
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
