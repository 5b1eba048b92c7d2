/**
 * The wasm backend on more than one thread in Node.
 *
 * `@tensorflow/tfjs-backend-wasm` ships a threaded-SIMD build (emscripten
 * pthreads, which in Node run on `worker_threads`) but never uses it there:
 * 1. its `WASM_HAS_MULTITHREAD_SUPPORT` flag returns false whenever `IS_NODE`;
 * 2. forcing the flag does not help: it hands emscripten the worker script as a
 *    `blob:` URL, which Node's `Worker` cannot load;
 * 3. and even when loaded, the C++ side caps XNNPACK's pool at
 *    `emscripten_num_logical_cores() / 2` (it assumes hyper-threading), which is
 *    1 on a 2-core machine.
 * So we instantiate that build ourselves, through emscripten's documented module
 * hooks: `locateFile` serves the worker script as a `data:` URL (an ES module
 * with `require`/`__filename` defined as the script expects), and
 * `instantiateWasm` reports twice the wanted thread count as logical cores so
 * the cap lets the count we ask for through. tfjs's own `BackendWasm` then wraps
 * the module, so every registered wasm kernel works unchanged.
 */
import {readFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'

import {requireTfjs, tf} from './tf.js'

const require = createRequire(import.meta.url)

const WASM_PRIORITY = 2

interface EmscriptenWorker {
  unref(): void
}

interface ThreadedModule {
  cwrap(name: string, returnType: string | null, argTypes: string[]): (...args: number[]) => number
  PThread: {runningWorkers: EmscriptenWorker[]; unusedWorkers: EmscriptenWorker[]}
  tfjs?: Record<string, (...args: number[]) => number>
}

interface FactoryConfig {
  mainScriptUrlOrBlob: string
  locateFile(path: string, prefix: string): string | URL
  instantiateWasm(imports: {env: Record<string, unknown>}, receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void): object
}

/** Replace the registered 'wasm' backend factory with one that starts the threaded build on `threads` threads. */
export async function registerThreadedWasm(threads: number): Promise<void> {
  const wasmPackage = requireTfjs<typeof import('@tensorflow/tfjs-backend-wasm')>('@tensorflow/tfjs-backend-wasm')
  const outDir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out')
  const script = join(outDir, 'tfjs-backend-wasm-threaded-simd.js')
  const factory = require(script) as (config: FactoryConfig) => Promise<ThreadedModule>
  const {wasmWorkerContents} = require(join(outDir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as {wasmWorkerContents: string}
  const binary = await readFile(join(outDir, 'tfjs-backend-wasm-threaded-simd.wasm'))

  // The worker script is written for CommonJS; as an ES module it needs these two names. Its literal
  // "\n" escapes arrive as real newlines through the template string they ship in, hence the re-escaping.
  const prelude = `import {createRequire} from 'node:module';const require=createRequire(${JSON.stringify(script)});const __filename=${JSON.stringify(script)};\n`
  const worker = new URL(`data:text/javascript,${encodeURIComponent(prelude + wasmWorkerContents.replaceAll('\n', '\\n'))}`)

  const module = await factory({
    mainScriptUrlOrBlob: script,
    locateFile: (path) => (path.endsWith('.worker.js') ? worker : join(outDir, path)),
    instantiateWasm(imports, receive) {
      imports.env.emscripten_num_logical_cores = () => threads * 2
      WebAssembly.instantiate(binary, imports as WebAssembly.Imports).then(
        ({instance, module: compiled}) => receive(instance, compiled),
        (error: unknown) => {
          throw error
        },
      )
      return {}
    },
  })
  // The same bridge tfjs's own init() adds.
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  }

  wasmPackage.setThreadsCount(threads)
  tf.removeBackend('wasm')
  tf.registerBackend(
    'wasm',
    () => {
      const backend = new wasmPackage.BackendWasm(module as unknown as ConstructorParameters<typeof wasmPackage.BackendWasm>[0])
      // XNNPACK's pool threads wait forever for work; they must not keep the process alive once the command is done.
      for (const running of module.PThread.runningWorkers) running.unref()
      return backend
    },
    WASM_PRIORITY,
  )
}
