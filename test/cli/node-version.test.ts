import {expect} from 'chai'
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {BIN} from '../helpers/fixtures.js'

/** Node binaries on this machine older than the supported ones (the system Node 20 of many distributions). */
function oldNodes(): string[] {
  const candidates = ['/usr/bin/node', '/usr/local/bin/node', '/bin/node', ...(process.env.PATH ?? '').split(':').map((dir) => join(dir, 'node'))]
  const found = new Map<string, string>()
  for (const path of candidates) {
    if (!existsSync(path)) continue
    try {
      const version = execFileSync(path, ['--version'], {encoding: 'utf8'}).trim()
      const [major, minor] = version.slice(1).split('.').map(Number)
      if (major < 22 || (major === 22 && minor < 19)) found.set(version, path)
    } catch {
      // Not runnable: not a candidate.
    }
  }

  return [...found.values()]
}

describe('an unsupported Node.js is refused in one line before anything loads', function () {
  this.timeout(60_000)
  const nodes = oldNodes()

  for (const args of [['--version'], ['train', '--data-dir', 'data', '--output-dir', 'runs/x'], ['serve', '--port', '0']]) {
    it(`${args[0]} on an old Node says which versions are needed, exit 1`, function () {
      if (nodes.length === 0) this.skip()
      for (const node of nodes) {
        const version = execFileSync(node, ['--version'], {encoding: 'utf8'}).trim()
        const result = spawnSync(node, [BIN, ...args], {encoding: 'utf8', timeout: 30_000})
        expect(result.status, result.stderr).to.equal(1)
        expect(result.stdout).to.equal('')
        expect(result.stderr).to.equal(`Error: digit-classification needs Node.js 22.19+ or 24; this is ${version}\n`)
      }
    })
  }

  it('the supported Node runs the command', () => {
    const result = spawnSync(process.execPath, [BIN, '--version'], {encoding: 'utf8', timeout: 30_000})
    expect(result.status, result.stderr).to.equal(0)
    expect(result.stdout).to.match(/^digit-classification\/\d/)
  })
})
