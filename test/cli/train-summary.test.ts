import {expect} from 'chai'
import {spawnSync} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {BIN, FIXTURE_DIR} from '../helpers/fixtures.js'

/** Run the CLI on a pseudo-terminal (util-linux `script`), as a person at a terminal would; stdout and stderr arrive mixed. */
function onTerminal(args: string[]): {status: number | null; output: string} {
  const command = [process.execPath, BIN, ...args].map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ')
  const result = spawnSync('script', ['-qec', command, '/dev/null'], {encoding: 'utf8', timeout: 120_000, env: {...process.env, COLUMNS: '100'}})
  return {status: result.status, output: result.stdout.replaceAll('\r', '')}
}

const hasScript = spawnSync('script', ['--version']).status === 0

describe('the end of train on a terminal', function () {
  this.timeout(180_000)

  it('is a short summary: the best epoch, its validation and evaluation scores, where best.ckpt is; no JSON dump', function () {
    if (!hasScript) this.skip()
    const out = join(mkdtempSync(join(tmpdir(), 'train-tty-')), 'run')
    const {status, output} = onTerminal([
      'train',
      '--data-dir',
      FIXTURE_DIR,
      '--output-dir',
      out,
      '--epochs',
      '2',
      '--class-counts',
      '8=70,0=24,5=12',
      '--num-workers',
      '1',
    ])
    expect(status, output).to.equal(0)
    expect(output).to.match(
      /^trained 2 epochs; best epoch [12]: validation macro-F1 \d\.\d{4}, evaluation macro-F1 \d\.\d{4} \(accuracy \d\.\d{4} on \d+ images\)$/m,
    )
    expect(output).to.include(`best.ckpt: ${join(out, 'best.ckpt')}  (13 files in ${out}; --json prints the full summary)`)
    expect(output).to.not.include('"metrics"')
  })

  it('with --json prints the JSON summary on a terminal too', function () {
    if (!hasScript) this.skip()
    const out = join(mkdtempSync(join(tmpdir(), 'train-tty-')), 'run')
    const {status, output} = onTerminal([
      'train',
      '--data-dir',
      FIXTURE_DIR,
      '--output-dir',
      out,
      '--epochs',
      '1',
      '--class-counts',
      '8=70,0=24,5=12',
      '--num-workers',
      '1',
      '--json',
    ])
    expect(status, output).to.equal(0)
    expect(output).to.include('"metrics"')
    expect(output).to.not.include('--json prints the full summary')
  })
})
