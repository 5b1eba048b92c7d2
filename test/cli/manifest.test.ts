import {expect} from 'chai'
import {readFileSync, readdirSync} from 'node:fs'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {cli} from '../helpers/cli.js'
import {ROOT} from '../helpers/fixtures.js'

interface Manifest {
  version: string
  commands: Record<string, {flags: Record<string, unknown>; description?: string}>
}

/** The manifest lets oclif start without importing every command; a stale one would hide commands or show old flags. */
describe('oclif manifest written by the build', () => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8')) as Manifest
  const sources = readdirSync(join(ROOT, 'src', 'commands'))
    .filter((file) => file.endsWith('.ts'))
    .map((file) => file.slice(0, -3))

  it('lists every command in src/commands, for this package version (run npm run build if not)', () => {
    expect(Object.keys(manifest.commands).sort()).to.deep.equal(sources.sort())
    expect(manifest.version).to.equal(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version)
  })

  it("holds each built command's flags (its own and its shared base flags) and description", async () => {
    for (const id of sources) {
      const {default: command} = (await import(pathToFileURL(join(ROOT, 'dist', 'commands', `${id}.js`)).href)) as {
        default: {flags: Record<string, unknown>; baseFlags?: Record<string, unknown>; description: string}
      }
      expect(Object.keys(manifest.commands[id].flags).sort(), id).to.deep.equal(Object.keys({...command.baseFlags, ...command.flags}).sort())
      expect(manifest.commands[id].description, id).to.equal(command.description)
    }
  })

  it('the binary lists the commands from it', async () => {
    const run = await cli(['--help'])
    expect(run.code, run.stderr).to.equal(0)
    for (const id of sources) expect(run.stdout).to.match(new RegExp(`^  ${id} `, 'm'))
  })
})
