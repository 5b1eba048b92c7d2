/**
 * Which TensorFlow.js backend runs the maths, chosen once per process.
 *
 * - `node`: the native TensorFlow binding (`@tensorflow/tfjs-node`), an optional
 *   dependency because its install script downloads libtensorflow and fails
 *   wherever that download is impossible.
 * - `wasm`: XNNPACK compiled to WebAssembly, shipped inside the npm package, so
 *   it works everywhere; the CNNs train on it through our own kernel
 *   (`src/engine/cnn-step.ts`), which needs relaxed SIMD (Node 22 and later).
 * - `cpu`: plain JavaScript, the reference the others are checked against, and
 *   where a CNN trains when the kernel cannot run.
 *
 * Everything heavy is imported lazily: `predict` pays neither for gradients nor
 * for tfjs-layers, which brings them.
 */
import {availableParallelism} from 'node:os'

import {requireTfjs, tf} from './tf.js'

import {UserError, errorMessage} from '../errors.js'
import {type BackendName, type SelectedBackend, setCurrentBackend} from './selected.js'
import type {ModelKind} from '../config.js'

export {type BackendName, type SelectedBackend, currentBackend} from './selected.js'

export interface BackendOptions {
  /** Threads for the wasm backend (the CLI's `--num-workers`); 1 unless given. */
  threads?: number
  /** Also register gradients and the training kernels (see `enableTraining`). */
  training?: boolean
  /**
   * The model that will train. A CNN on wasm trains through our own kernel
   * (`./cnn-step.ts`) on threads of its own: then neither tfjs's gradients (the
   * 1 MB-plus `@tensorflow/tfjs` bundle) nor XNNPACK's threaded build are
   * loaded, which is most of a training run's start-up. Where the kernel
   * cannot run, a CNN trains on the cpu backend instead (the wasm backend has
   * no convolution filter gradient).
   */
  model?: ModelKind
}

export const NATIVE_PACKAGE = '@tensorflow/tfjs-node'
const NATIVE_INSTALL_HINT = `install it with \`npm install ${NATIVE_PACKAGE}\` (it downloads libtensorflow, so it needs internet access), or use --backend wasm`

/** The most threads asked of XNNPACK: its wasm build pre-creates this many workers. */
export const MAX_WASM_THREADS = 8

/** Pick, load and activate a backend. 'auto' prefers native TensorFlow when it loads, else wasm. */
export async function selectBackend(choice: 'auto' | 'node' | 'wasm' | 'cpu', options: BackendOptions = {}): Promise<SelectedBackend> {
  quietTfjs()
  const threads = options.threads ?? 1
  if (!Number.isInteger(threads) || threads < 1) throw new UserError(`threads must be a whole number of at least 1, got ${threads}: pass e.g. --num-workers 2`)

  let result: SelectedBackend
  if (choice === 'cpu') {
    requireTfjs('@tensorflow/tfjs-backend-cpu')
    await activate('cpu')
    result = {name: 'cpu', threads: 1}
  } else if (choice === 'wasm') {
    result = (await kernelCannotTrain(options)) ? await cpuInstead() : {name: 'wasm', threads: await activateWasm(threads, await kernelTrains(options))}
  } else {
    const native = await loadNative()
    if (native.ok) {
      await activate('tensorflow')
      result = {name: 'tensorflow', threads: availableParallelism()}
    } else if (choice === 'node') {
      throw new UserError(`The native TensorFlow backend (${NATIVE_PACKAGE}) is not usable: ${native.reason}; ${NATIVE_INSTALL_HINT}`)
    } else {
      result = (await kernelCannotTrain(options)) ? await cpuInstead() : {name: 'wasm', threads: await activateWasm(threads, await kernelTrains(options))}
    }
  }

  if (options.training && !(result.name === 'wasm' && (await kernelTrains(options)))) await enableTraining()
  setCurrentBackend(result)
  return result
}

let trainingEnabled: Promise<void> | undefined

/**
 * Register what training needs and inference does not: the gradients of every
 * op (tfjs-layers' Node bundle registers them all on load, the same set as the
 * `@tensorflow/tfjs` umbrella; tfjs-core's own ESM files cannot be imported in
 * Node). Idempotent.
 */
export function enableTraining(): Promise<void> {
  trainingEnabled ??= (async () => {
    requireTfjs('@tensorflow/tfjs-layers')
  })()
  return trainingEnabled
}

/** The cpu backend, for a CNN to train where our kernel cannot run (no relaxed SIMD). */
async function cpuInstead(): Promise<SelectedBackend> {
  process.emitWarning(
    'this WebAssembly has no relaxed SIMD, which the training kernel needs (Node 22 or later has it): training on the cpu backend, much slower',
  )
  requireTfjs('@tensorflow/tfjs-backend-cpu')
  await activate('cpu')
  return {name: 'cpu', threads: 1}
}

/**
 * tfjs's notes on stderr ("Hi, looks like you are running TensorFlow.js in
 * Node.js…", platform overrides) are addressed to library authors, not to the
 * users of this tool; production mode is tfjs's switch for them. Native
 * TensorFlow's own C++ logging is quietened the same way.
 */
function quietTfjs(): void {
  tf.env().set('PROD', true)
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2'
}

async function activate(name: BackendName): Promise<void> {
  if (tf.getBackend() === name) return
  const ok = await tf.setBackend(name)
  if (!ok) throw new UserError(`The ${name} backend failed to start: try --backend cpu`)
  await tf.ready()
}

export type NativeLoad = {ok: true} | {ok: false; reason: string}

/**
 * Load the native binding if it is installed and works. A half-installed
 * package (its download failed, or install scripts were skipped) is present but
 * throws on import because its compiled binding is missing; that counts as absent.
 */
export async function loadNative(specifier: string = NATIVE_PACKAGE): Promise<NativeLoad> {
  if (tf.findBackendFactory('tensorflow')) return {ok: true}
  try {
    await import(specifier)
  } catch (error) {
    const code = (error as {code?: string}).code
    if (code === 'ERR_MODULE_NOT_FOUND' && errorMessage(error).includes(`'${specifier}'`)) return {ok: false, reason: 'it is not installed'}
    return {ok: false, reason: `it is installed but does not load (${firstLine(errorMessage(error))})`}
  }

  if (!tf.findBackendFactory('tensorflow')) return {ok: false, reason: 'it loaded but registered no backend'}
  return {ok: true}
}

function firstLine(text: string): string {
  return text.split('\n')[0].trim()
}

/** Whether a CNN will train through our own kernel on wasm (see `BackendOptions.model`). */
async function kernelTrains(options: BackendOptions): Promise<boolean> {
  if (!options.training || options.model === undefined || options.model === 'softmax') return false
  const {kernelModule} = await import('./cnn-kernel.js')
  return kernelModule() !== undefined
}

/** Whether a CNN is to train where our kernel does not run. */
async function kernelCannotTrain(options: BackendOptions): Promise<boolean> {
  return Boolean(options.training && options.model !== undefined && options.model !== 'softmax' && !(await kernelTrains(options)))
}

let wasmThreads: number | undefined

/**
 * Start the wasm backend with `threads` XNNPACK threads (one when our kernel
 * trains: it then returns the kernel's thread count). One thread uses the
 * package's stock SIMD build. More threads use its threaded-SIMD build, which
 * tfjs never selects in Node (`WASM_HAS_MULTITHREAD_SUPPORT` is hard-wired to
 * false there); `./wasm-threads.ts` instantiates it itself. The backend lives
 * for the whole process: a later call with another count keeps the first one.
 */
async function activateWasm(threads: number, kernel = false): Promise<number> {
  const wasm = requireTfjs<typeof import('@tensorflow/tfjs-backend-wasm')>('@tensorflow/tfjs-backend-wasm')
  // More threads than cores only adds waiting: XNNPACK's pool joins every worker at every op.
  const wanted = Math.min(threads, MAX_WASM_THREADS, availableParallelism())
  if (wasmThreads === undefined) {
    // Our kernel trains on threads of its own: XNNPACK stays on one.
    if (wanted > 1 && !kernel) {
      const {registerThreadedWasm} = await import('./wasm-threads.js')
      await registerThreadedWasm(wanted)
    }

    await activate('wasm')
    wasmThreads = wasm.getThreadsCount()
  } else {
    await activate('wasm')
  }

  return kernel ? wanted : wasmThreads
}
