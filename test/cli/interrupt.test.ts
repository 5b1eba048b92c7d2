import {expect} from 'chai'
import {spawn} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {loadCheckpoint} from '../../src/model/checkpoint.js'
import {cli} from '../helpers/cli.js'
import {BIN, FIXTURE_DIR} from '../helpers/fixtures.js'

/** Start `train`; `onStderr` sees stderr as it grows and may interrupt the run. */
function startTrain(args: string[], onStderr: (stderr: string, interrupt: () => void) => void): Promise<{code: number | null; stdout: string; stderr: string}> {
  const child = spawn(process.execPath, [BIN, 'train', ...args], {stdio: ['ignore', 'pipe', 'pipe']})
  let stderr = ''
  let stdout = ''
  let sent = false
  const interrupt = () => {
    if (sent) return
    sent = true
    child.kill('SIGINT')
  }

  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
    onStderr(stderr, interrupt)
  })
  return new Promise((resolve) => child.on('close', (code) => resolve({code, stdout, stderr})))
}

/** Epochs of about a second: every image of the fixture, one per step. */
const LONG_EPOCHS = ['--class-counts', '8=500,0=500,5=500', '--batch-size', '1', '--num-workers', '1', '--backend', 'wasm']

describe('train from the command line: start-up summary and Ctrl-C', function () {
  this.timeout(300_000)

  it('Ctrl-C stops at the next batch, not at the end of the running epoch; last.ckpt stays the last finished epoch', async () => {
    const outputDir = join(mkdtempSync(join(tmpdir(), 'train-interrupt-')), 'run')
    let epochOneAt = 0
    const run = await startTrain(['--data-dir', FIXTURE_DIR, '--output-dir', outputDir, '--epochs', '5', ...LONG_EPOCHS], (stderr, interrupt) => {
      if (!/^epoch 1\/5 /m.test(stderr) || epochOneAt) return
      epochOneAt = Date.now()
      // Well into epoch 2's batches (its checkpoints take milliseconds).
      setTimeout(interrupt, 150)
    })
    expect(run.code, run.stderr).to.equal(130)
    expect(run.stderr, 'epoch 2 ran to its end after Ctrl-C').to.not.match(/^epoch 2\/5 /m)
    expect((await loadCheckpoint(join(outputDir, 'last.ckpt'))).header.training.epoch).to.equal(1)
    expect(run.stderr.trimEnd().split('\n').at(-1)).to.match(/^interrupted: last\.ckpt holds epoch 1 of 5 \(best\.ckpt: epoch 1\); continue with: .* --resume$/)
  })

  it('Ctrl-C before the first epoch ends: the same command starts over, as the message says', async () => {
    const outputDir = join(mkdtempSync(join(tmpdir(), 'train-interrupt-')), 'run')
    const args = ['--data-dir', FIXTURE_DIR, '--output-dir', outputDir, '--epochs', '1', ...LONG_EPOCHS]
    const run = await startTrain(args, (stderr, interrupt) => {
      if (/parameters, .* trainable/.test(stderr)) setTimeout(interrupt, 100)
    })
    expect(run.code, run.stderr).to.equal(130)
    expect(run.stderr.trimEnd().split('\n').at(-1)).to.equal(
      'interrupted before the first epoch ended: nothing was saved; run the same command again to start over',
    )
    const again = await cli(['train', ...args])
    expect(again.code, again.stderr).to.equal(0)
    expect(again.stderr).to.include(`starting over in ${outputDir}: the run there stopped before its first epoch ended`)
    expect(JSON.parse(again.stdout).epochs).to.equal(1)
  })

  it('prints the model summary, and on Ctrl-C says which epoch is saved and the exact --resume command, exit 130', async () => {
    const outputDir = join(mkdtempSync(join(tmpdir(), 'train-interrupt-')), 'run')
    const args = [
      'train',
      '--data-dir',
      FIXTURE_DIR,
      '--output-dir',
      outputDir,
      '--class-counts',
      '8=140,0=48,5=12',
      '--epochs',
      '20',
      '--num-workers',
      '1',
      '--backend',
      'wasm',
    ]
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
