/**
 * Writes dist/artifacts/render-worker.bundle.js (part of `npm run build`,
 * after tsc): the plot renderer's thread (src/artifacts/render-worker.ts)
 * with vega, vega-lite and the rest of its JavaScript in one file, as the
 * renderer thread loads it when it is there (`renderWorkerUrl`). Node resolves,
 * reads and links vega's 90-odd modules one by one; one file of the same code
 * is ready 0.2 s of a core sooner, time a training run's first epoch shares
 * its cores with. resvg stays outside: it is a native addon.
 *
 * Generated at build time from dist/, never committed.
 */
import {join} from 'node:path'

import {build} from 'esbuild'

const root = join(import.meta.dirname, '..')
const outfile = join(root, 'dist', 'artifacts', 'render-worker.bundle.js')
await build({
  entryPoints: [join(root, 'dist', 'artifacts', 'render-worker.js')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  external: ['@resvg/resvg-js'],
  // The CommonJS modules inside call require(): give them Node's.
  banner: {js: "import {createRequire as __createRequire} from 'node:module'; const require = __createRequire(import.meta.url);"},
  logLevel: 'warning',
})
process.stderr.write(`wrote ${outfile}\n`)
