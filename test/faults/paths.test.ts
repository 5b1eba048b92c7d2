/**
 * Folders that cannot be created: /proc refuses new entries with ENOENT
 * although the parent exists, which sent Node's recursive mkdir into an
 * endless loop that ignored Ctrl-C and SIGTERM. Every command that creates a
 * folder goes through one check, so each ends in one line.
 */
import {expect} from 'chai'
import {join} from 'node:path'

import {makeFolder, makeFolderSync} from '../../src/util/paths.js'
import {expectUserRejection} from '../helpers/assert.js'
import {FIXTURE_DIR} from '../helpers/fixtures.js'
import {SMALL_COUNTS, oneLine, run, sharedRun, tempDir} from './helpers.js'

describe('faults: /proc paths and folders that cannot be created', function () {
  this.timeout(120_000)
  let ckpt: string
  before(async () => {
    ckpt = join(await sharedRun(), 'best.ckpt')
  })

  const cases: Array<[string, () => string[], RegExp]> = [
    [
      'download-data --data-dir',
      () => ['download-data', '--data-dir', '/proc/digit-faults/data', '--mirror', 'http://127.0.0.1:9/'],
      /choose another --data-dir/,
    ],
    [
      'train --output-dir',
      () => ['train', '--data-dir', FIXTURE_DIR, '--output-dir', '/proc/digit-faults/run', '--class-counts', SMALL_COUNTS],
      /choose another --output-dir/,
    ],
    [
      'evaluate --output-dir',
      () => ['evaluate', '--checkpoint-path', ckpt, '--data-dir', FIXTURE_DIR, '--output-dir', '/proc/digit-faults/eval'],
      /--output-dir/,
    ],
    ['export --output-dir', () => ['export', '--checkpoint-path', ckpt, '--output-dir', '/proc/digit-faults/web'], /choose another --output-dir/],
    ['serve --database-url sqlite:/proc/…', () => ['serve', '--port', '0', '--database-url', 'sqlite:/proc/digit-faults/x.sqlite'], /--database-url/],
  ]
  for (const [name, args, hint] of cases) {
    it(`${name} under /proc ends in one line instead of spinning`, async () => {
      // Killed after 20 s if it hangs: the old behaviour, which then fails the one-line check.
      const line = oneLine(await run(args(), {killAfterMs: 20_000}))
      expect(line).to.match(/cannot create the folder \/proc\/digit-faults\S* \(the file system there does not allow new folders, ENOENT\)/)
      expect(line).to.match(hint)
    })
  }

  it('evaluate checks --output-dir before it evaluates: no evaluation is spent on a folder that cannot be made', async () => {
    const result = await run(['evaluate', '--checkpoint-path', ckpt, '--data-dir', FIXTURE_DIR, '--output-dir', join(ckpt, 'eval')], {killAfterMs: 20_000})
    expect(oneLine(result)).to.match(/cannot use \S+best\.ckpt as a folder: it is a file; choose another --output-dir/)
    expect(result.stderr).to.not.match(/images in/)
  })

  it('makeFolder creates missing levels, accepts existing folders and names a file in the way', async () => {
    const dir = tempDir('mkdir')
    expect(await makeFolder(join(dir, 'a', 'b', 'c'), 'hint')).to.equal(join(dir, 'a'))
    expect(await makeFolder(join(dir, 'a', 'b', 'c'), 'hint')).to.equal(undefined)
    expect(makeFolderSync(join(dir, 'a', 'x'), 'hint')).to.equal(join(dir, 'a', 'x'))
    await expectUserRejection(makeFolder('/proc/self/status/x', 'pick another'), /cannot use \/proc\/self\/status as a folder: it is a file; pick another/)
    await expectUserRejection(makeFolder('/proc/nope/deeper', 'pick another'), /cannot create the folder \/proc\/nope\/deeper .*ENOENT.*; pick another$/)
  })
})
