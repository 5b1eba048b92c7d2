import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {Worker, type WorkerOptions} from 'node:worker_threads'

/**
 * Start a Worker on the module `name` (without extension) next to this one.
 * Under tsx (tests, development) that module is TypeScript, and Node does not
 * hand tsx's loader to workers: a one-line bootstrap registers tsx's ESM API
 * in the worker first (found through tsx's own exports map).
 */
export function startModuleWorker(name: string, options: WorkerOptions = {}): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL(`${name}.js`, import.meta.url), options)
  const entry = new URL(`${name}.ts`, import.meta.url).href
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json')
  const {exports} = JSON.parse(readFileSync(manifest, 'utf8')) as {exports: Record<string, {import: {default: string}}>}
  const api = pathToFileURL(join(dirname(manifest), exports['./esm/api'].import.default)).href
  const bootstrap = `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}) })`
  return new Worker(bootstrap, {...options, eval: true})
}
