import {createRequire} from 'node:module'

/**
 * Node's built-in SQLite (`node:sqlite`), loaded so that users never see the
 * ExperimentalWarning Node 22 prints when the module is first loaded (Node 24
 * prints none). Only that one warning is dropped: the filter is in place for
 * the duration of the synchronous load and then removed.
 *
 * A static `import … from 'node:sqlite'` would load the module before any of
 * our code runs, so every user of the module goes through this helper.
 */
type NodeSqlite = typeof import('node:sqlite')

let loaded: NodeSqlite | undefined

function isSqliteExperimentalWarning(warning: string | Error, typeOrOptions: unknown): boolean {
  const type = typeof typeOrOptions === 'string' ? typeOrOptions : (typeOrOptions as {type?: unknown} | undefined)?.type
  const name = warning instanceof Error ? warning.name : type
  const message = warning instanceof Error ? warning.message : warning
  return name === 'ExperimentalWarning' && /^SQLite\b/.test(message)
}

export function nodeSqlite(): NodeSqlite {
  if (loaded) return loaded
  const emitWarning = process.emitWarning
  process.emitWarning = function (this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
    if (isSqliteExperimentalWarning(warning, rest[0])) return
    return (emitWarning as (...args: unknown[]) => void).call(this, warning, ...rest)
  } as typeof process.emitWarning
  try {
    loaded = createRequire(import.meta.url)('node:sqlite') as NodeSqlite
  } finally {
    process.emitWarning = emitWarning
  }

  return loaded
}
