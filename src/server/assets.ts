import {readFileSync} from 'node:fs'
import {join} from 'node:path'

/**
 * The page and its assets live in the package's top-level `web/` folder
 * (plain HTML, CSS and JavaScript: nothing to build, nothing fetched from
 * elsewhere, so the page works offline). The path is relative to this module,
 * which sits at `src/server/` or `dist/server/`: both are two levels down.
 */
export const WEB_DIR = join(import.meta.dirname, '..', '..', 'web')

const ASSET_TYPES: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
}

export interface WebAssets {
  page: string
  files: Map<string, {type: string; body: string}>
}

/** Read once at start-up: the files are small and a fixed list leaves no path to traverse. */
export function loadWebAssets(dir = WEB_DIR): WebAssets {
  const files = new Map<string, {type: string; body: string}>()
  for (const [name, type] of Object.entries(ASSET_TYPES)) files.set(name, {type, body: readFileSync(join(dir, name), 'utf8')})
  return {page: readFileSync(join(dir, 'index.html'), 'utf8'), files}
}
