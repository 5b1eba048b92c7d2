import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {loadCheckpoint} from '../../src/model/checkpoint.js'
import {cli} from '../helpers/cli.js'
import {BIN, FIXTURE_DIR} from '../helpers/fixtures.js'

describe('train from the command line: start-up summary and Ctrl-C', function () {
  this.timeout(300_000)

  it('prints the model summary, and on Ctrl-C says which epoch is saved and the exact --resume command, exit 130', async () => {
    const outputDir = join(mkdtempSync(join(tmpdir(), 'train-interrupt-')), 'run')
    const args = ['train', '--data-dir', FIXTURE_DIR, '--output-dir', outputDir, '--class-counts', '8=140,0=48,5=12', '--epochs', '20', '--num-workers', '1', '--backend', 'wasm']
    const child = spawn(process.execPath, [BIN, ...args], {stdio: ['ignore', 'pipe', 'pipe']})
    let stderr = ''
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString()
        if (/^epoch 2\/20 /m.test(stderr) && !child.killed) {
          child.kill('SIGINT')
          resolve()
        }
      })
      child.on('close', () => resolve())
    })
    const code = await exited
    expect(code, stderr).to.equal(130)
    expect(stdout).to.equal('')
    expect(stderr).to.match(/model cnn\n {2}layer +output shape +params\n/)
    expect(stderr).to.include('9,699 parameters, 9,603 trainable')
    const saved = (await loadCheckpoint(join(outputDir, 'last.ckpt'))).header.training
    const line = stderr.trimEnd().split('\n').at(-1)!
    expect(line).to.equal(
      `interrupted: last.ckpt holds epoch ${saved.epoch} of 20 (best.ckpt: epoch ${saved.bestEpoch}); continue with: digit-classification train --data-dir ${FIXTURE_DIR} --output-dir ${outputDir} --resume`,
    )
    expect(saved.epoch).to.be.at.least(2)

    // The printed command is the one that continues the run.
    const resumed = await cli([...line.split('continue with: digit-classification ')[1].split(' '), '--epochs', String(saved.epoch + 1)])
    expect(resumed.code, resumed.stderr).to.equal(0)
    expect(resumed.stderr).to.include(`resuming after epoch ${saved.epoch}`)
    expect(JSON.parse(resumed.stdout).epochs).to.equal(saved.epoch + 1)
  })
})
