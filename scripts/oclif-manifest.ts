/**
 * Writes oclif.manifest.json (part of `npm run build`, after tsc): the list of
 * commands with their flags and descriptions, as `oclif manifest` writes it,
 * made with @oclif/core's own Plugin loader so the large `oclif` package is not
 * needed. Without it oclif imports every command module on every start to
 * learn the command list (the web server's among them), which cost `predict`
 * about a third of its start-up time.
 *
 * Generated at build time from dist/, never committed: a stale manifest would
 * hide a new command or show old flags in --help.
 */
import {join} from 'node:path'

import {Plugin} from '@oclif/core'

import {writeFileAtomic} from '../src/util/atomic.js'

const root = join(import.meta.dirname, '..')
// ignoreManifest: build from the compiled commands, not from a previous manifest.
const plugin = new Plugin({root, type: 'core', isRoot: true, ignoreManifest: true, errorOnManifestCreate: true})
await plugin.load()
const file = join(root, 'oclif.manifest.json')
await writeFileAtomic(file, `${JSON.stringify(plugin.manifest, null, 2)}\n`)
process.stderr.write(`wrote ${file} (${Object.keys(plugin.manifest.commands).length} commands)\n`)
