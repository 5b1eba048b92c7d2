/**
 * The plot renderer on a thread of its own (see `startRenderWorker` in
 * ./render.ts): it loads vega, vega-lite and resvg as soon as it
 * starts, so a training run pays for them while its epochs run, then renders
 * each Vega-Lite spec it is sent to PNG bytes with the same code as the main thread.
 */
import {enableCompileCache} from 'node:module'
import {parentPort, workerData} from 'node:worker_threads'

import type {TopLevelSpec} from 'vega-lite'

import {renderHere, warmUpRenderer} from './render.js'

interface Request {
  id: number
  spec: TopLevelSpec
}

const port = parentPort
if (!port) throw new Error('render-worker.ts runs as a worker thread')
// The compile cache is a thread's own: the one the main thread keeps (bin/run.js), here too, before vega loads.
const {compileCache} = (workerData ?? {}) as {compileCache?: string}
if (compileCache) enableCompileCache(compileCache)
const ready = warmUpRenderer().catch(() => undefined)
port.on('message', async ({id, spec}: Request) => {
  await ready
  try {
    // A copy of its own: the renderer's buffer may share memory with others.
    const png = new Uint8Array(await renderHere(spec))
    port.postMessage({id, png}, [png.buffer])
  } catch (error) {
    port.postMessage({id, error: error instanceof Error ? (error.stack ?? error.message) : String(error)})
  }
})
