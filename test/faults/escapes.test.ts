/**
 * File names are data, not terminal commands: a name holding an escape
 * sequence (here one that sets the window title) is shown escaped in errors,
 * notes and progress lines, never written raw to the terminal.
 */
import {expect} from 'chai'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {printable} from '../../src/util/printable.js'
import {FIXTURE_DIR} from '../helpers/fixtures.js'
import {SMALL_COUNTS, oneLine, run, tempDir} from './helpers.js'

const TITLE = '\u001B]0;owned\u0007'

const RAW_CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/

describe('faults: control characters in file names', function () {
  this.timeout(120_000)

  it('printable shows control characters and direction overrides as escapes, keeps text, tabs and newlines', () => {
    expect(printable(`a${TITLE}b`)).to.equal('a\\x1B]0;owned\\x07b')
    expect(printable('x\ry\u202Ez\u009B')).to.equal('x\\x0Dy\\u202Ez\\x9B')
    expect(printable('épreuve\tof 0–9\n')).to.equal('épreuve\tof 0–9\n')
  })

  it('an error naming a file with an escape sequence shows it escaped', async () => {
    const dir = tempDir('escape')
    const name = join(dir, `digit${TITLE}.png`)
    const line = oneLine(await run(['predict', '--checkpoint-path', join(dir, `model${TITLE}.ckpt`), '--input-path', name]))
    expect(line).to.include('\\x1B]0;owned\\x07')
    expect(line).to.not.match(RAW_CONTROL)
  })

  it('train into a folder whose name holds an escape sequence: no raw control character on stderr', async () => {
    const dir = tempDir('escape-train')
    const out = join(dir, `run${TITLE}`)
    mkdirSync(out)
    writeFileSync(join(out, 'notes.txt'), 'kept\n')
    const result = await run(['train', '--data-dir', FIXTURE_DIR, '--output-dir', out, '--epochs', '1', '--class-counts', SMALL_COUNTS, '--num-workers', '1'])
    expect(result.code, result.stderr).to.equal(0)
    expect(result.stderr).to.include(`wrote 13 files to ${join(dir, 'run\\x1B]0;owned\\x07')}`)
    expect(result.stderr).to.not.match(RAW_CONTROL)
  })
})
