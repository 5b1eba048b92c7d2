/**
 * One writer per run folder: two trainings into one folder, from the command
 * line or from two servers sharing a runs folder, never mix their files; a
 * lock left by a killed run does not block the next one.
 */
import {expect} from 'chai'
import {mkdirSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import {join} from 'node:path'

import {loadCheckpoint} from '../../src/model/checkpoint.js'
import {startFixtureServer} from '../server/helpers.js'
import {FIXTURE_DIR} from '../helpers/fixtures.js'
import {SMALL_COUNTS, oneLine, run, tempDir} from './helpers.js'

/** A few seconds of training, so two runs started together overlap. */
const OVERLAPPING = ['--epochs', '3', '--class-counts', '8=300,0=100,5=40', '--batch-size', '8', '--num-workers', '1']

/** A pid no process has: above the kernel's maximum. */
const DEAD_PID = 4_194_304 + 17

describe('faults: one training per run folder', function () {
  this.timeout(180_000)

  it("two CLI runs into one folder started together: one trains, the other is refused in one line, and the files are all the winner's", async () => {
    const out = join(tempDir('lock'), 'run')
    const [a, b] = await Promise.all(
      [1, 2].map((seed) => run(['train', '--data-dir', FIXTURE_DIR, '--output-dir', out, '--seed', String(seed), ...OVERLAPPING])),
    )
    const results = [a, b]
    const winners = results.filter((r) => r.code === 0)
    expect(winners, results.map((r) => r.stderr).join('\n---\n')).to.have.length(1)
    const loser = results.find((r) => r.code !== 0)!
    expect(oneLine(loser)).to.match(
      new RegExp(
        `^Error: ${out.replaceAll('/', '\\/')} is in use by another training run \\(process \\d+ on ${hostname()}, since [\\d-]+T[\\d:.]+Z\\); wait for it to finish`,
      ),
    )
    const seed = JSON.parse(winners[0] === a ? '1' : '2') as number
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).seed).to.equal(seed)
    for (const file of ['best.ckpt', 'last.ckpt']) expect((await loadCheckpoint(join(out, file))).header.data.seed, file).to.equal(seed)
    expect(JSON.parse(winners[0].stdout).run_name).to.be.a('string')
    expect(JSON.parse(readFileSync(join(out, 'run_metadata.json'), 'utf8')).training_config.seed).to.equal(seed)
  })

  it('a lock left by a process that is gone is taken over, and removed when the run ends', async () => {
    const out = join(tempDir('stale'), 'run')
    mkdirSync(out, {recursive: true})
    writeFileSync(join(out, '.run.lock'), JSON.stringify({pid: DEAD_PID, host: hostname(), started_at: '2026-01-01T00:00:00.000Z', token: 'abc'}))
    const result = await run(['train', '--data-dir', FIXTURE_DIR, '--output-dir', out, '--epochs', '1', '--class-counts', SMALL_COUNTS, '--num-workers', '1'])
    expect(result.code, result.stderr).to.equal(0)
    expect(readdirSync(out)).to.not.include('.run.lock')
  })

  it('a lock of another machine is reported with the file to delete', async () => {
    const out = join(tempDir('remote'), 'run')
    mkdirSync(out, {recursive: true})
    writeFileSync(join(out, '.run.lock'), JSON.stringify({pid: 1234, host: 'elsewhere.example', started_at: '2026-01-01T00:00:00.000Z', token: 'abc'}))
    const line = oneLine(
      await run(['train', '--data-dir', FIXTURE_DIR, '--output-dir', out, '--epochs', '1', '--class-counts', SMALL_COUNTS, '--num-workers', '1']),
    )
    expect(line).to.include(
      `is in use by another training run (process 1234 on elsewhere.example, since 2026-01-01T00:00:00.000Z); wait for it to finish, or delete ${join(out, '.run.lock')} if that process is gone`,
    )
  })

  it('two servers sharing a runs folder: one run name is accepted by one of them, the other answers 409', async () => {
    const dir = tempDir('servers')
    const [first, second] = await Promise.all([
      startFixtureServer(join(dir, 'a'), {runsDir: join(dir, 'runs')}),
      startFixtureServer(join(dir, 'b'), {runsDir: join(dir, 'runs')}),
    ])
    try {
      const body = JSON.stringify({epochs: 2, 'batch-size': 1, 'class-counts': SMALL_COUNTS, 'run-name': 'shared'})
      const answers = await Promise.all(
        [first, second].map((server) => fetch(`${server.url}/api/train`, {method: 'POST', headers: {'content-type': 'application/json'}, body})),
      )
      const statuses = answers.map((a) => a.status).sort()
      expect(statuses).to.deep.equal([202, 409])
      const refused = answers.find((a) => a.status === 409)!
      expect(((await refused.json()) as {error: string}).error).to.match(/^a run named shared is (being trained|already exists) in /)
    } finally {
      await Promise.all([first.close(), second.close()])
    }
  })

  it('the web app starts over in a folder whose run stopped before its first epoch (config.json only)', async () => {
    const dir = tempDir('web-restart')
    mkdirSync(join(dir, 'runs', 'early'), {recursive: true})
    writeFileSync(join(dir, 'runs', 'early', 'config.json'), '{}\n')
    const server = await startFixtureServer(dir)
    try {
      const body = JSON.stringify({epochs: 1, 'class-counts': SMALL_COUNTS, 'run-name': 'early'})
      const answer = await fetch(`${server.url}/api/train`, {method: 'POST', headers: {'content-type': 'application/json'}, body})
      expect(answer.status, await answer.clone().text()).to.equal(202)
      await server.training.settled()
      expect(server.training.snapshot().state, String(server.training.snapshot().error)).to.equal('finished')
    } finally {
      await server.close()
    }
  })
})
