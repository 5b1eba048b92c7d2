/**
 * Two servers starting at the same moment on a new SQLite file: the second
 * must wait for the first one's lock, never exit with "database is locked"
 * (the battery saw 1 start in about 7 fail, WAL being switched on before the
 * busy timeout was set).
 */
import {expect} from 'chai'
import {type ChildProcessWithoutNullStreams, spawn} from 'node:child_process'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'

import {tempDir} from './helpers.js'

function opener(): {child: ChildProcessWithoutNullStreams; next(): Promise<string>} {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('sqlite-open-child.ts', import.meta.url))])
  const lines = createInterface({input: child.stdout})[Symbol.asyncIterator]()
  return {child, next: async () => String((await lines.next()).value)}
}

describe('faults: servers starting together on a new SQLite file', function () {
  this.timeout(180_000)

  it('both open it, 40 times out of 40', async () => {
    const dir = tempDir('sqlite-start')
    const pair = [opener(), opener()]
    try {
      const failures: string[] = []
      for (let round = 0; round < 40; round++) {
        const file = join(dir, `predictions-${round}.sqlite`)
        // Both children get the file name in the same instant.
        for (const {child} of pair) child.stdin.write(`${file}\n`)
        for (const answer of await Promise.all(pair.map(({next}) => next()))) if (answer !== 'ok') failures.push(answer)
      }

      expect(failures).to.deep.equal([])
    } finally {
      for (const {child} of pair) child.kill()
    }
  })
})
