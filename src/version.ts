import {readFileSync} from 'node:fs'
import {join} from 'node:path'

let cached: string | undefined

/** This package's version, read once from its package.json. */
export function packageVersion(): string {
  cached ??= (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {version: string}).version
  return cached
}
