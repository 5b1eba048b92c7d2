/**
 * A training started from the web app whose runs folder fills up while the run
 * writes its results: the run ends failed with the reason, its folder never
 * looks finished, and the server keeps answering. The real `serve` command,
 * its runs folder on a small tmpfs (the kernel's own ENOSPC).
 */
import {expect} from 'chai'
import {type ChildProcess, execFileSync, spawn} from 'node:child_process'
import {once} from 'node:events'
import {existsSync, mkdirSync} from 'node:fs'
import {join} from 'node:path'

import {setTimeout as sleep} from 'node:timers/promises'

import {BIN, FIXTURE_DIR} from '../helpers/fixtures.js'
import {SMALL_COUNTS, tempDir, temporaries} from './helpers.js'

/** Files the run writes at its end, after its checkpoints: the part of the run this test fills the disk in. */
const RESULT_FILE = /(?:metrics|predictions|loss_curves|reliability|run_metadata)\.json|\.png/

function mountTmpfs(dir: string, kib: number): boolean {
  if (process.getuid?.() !== 0) return false
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k`, 'tmpfs', dir], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}

async function serve(runsDir: string, databasePath: string): Promise<{url: string; child: ChildProcess; stop(): Promise<void>}> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--port', '0', '--runs-dir', runsDir, '--data-dir', FIXTURE_DIR, '--database-url', `sqlite:${databasePath}`],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const deadline = Date.now() + 30_000
  let url: string | undefined
  while (!url && Date.now() < deadline && child.exitCode === null) {
    url = /http:\/\/[\d.]+:\d+/.exec(stderr)?.[0]
    if (!url) await sleep(50)
  }

  if (!url) {
    child.kill()
    throw new Error(`serve did not start: ${stderr}`)
  }

  return {
    url,
    child,
    async stop() {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      await once(child, 'close')
    },
  }
}

type Json = Record<string, any>

async function getJson(url: string): Promise<Json> {
  const answer = await fetch(url, {signal: AbortSignal.timeout(5000)})
  expect(answer.status, url).to.equal(200)
  return (await answer.json()) as Json
}

describe('faults: a web training on a runs folder that fills up while it writes its results', function () {
  this.timeout(180_000)

  it('ends failed with the file and the reason, its folder never shows finished, and the server keeps answering', async function () {
    // Sizes around what the checkpoints and logs of this run take (about 180 KiB): the first whose failure lands in the results.
    let reached: {error: string; run: Json; detail: Json; dir: string} | undefined
    for (const kib of [300, 340, 380, 260, 420]) {
      const root = tempDir(`web-full${kib}`)
      const runsDir = join(root, 'runs')
      mkdirSync(runsDir)
      if (!mountTmpfs(runsDir, kib)) this.skip() // not root, or no right to mount: no real full disk to test on
      const server = await serve(runsDir, join(root, 'predictions.sqlite'))
      try {
        const body = JSON.stringify({epochs: 1, 'class-counts': SMALL_COUNTS, 'run-name': 'full', activate: 'never'})
        const started = await fetch(`${server.url}/api/train`, {method: 'POST', headers: {'content-type': 'application/json'}, body})
        expect(started.status, await started.clone().text()).to.equal(202)
        let status: Json = await getJson(`${server.url}/api/train/status`)
        for (const deadline = Date.now() + 90_000; status.state === 'running' && Date.now() < deadline;) {
          await sleep(200)
          status = await getJson(`${server.url}/api/train/status`)
        }

        if (status.state === 'finished') continue // the disk was large enough
        expect(status.state, JSON.stringify(status)).to.equal('failed')
        const file = /cannot write (\S+?):/.exec(String(status.error))?.[1] ?? ''
        if (!RESULT_FILE.test(file)) continue // filled while writing a checkpoint or the log: the CLI's disk-full tests cover that
        const runs = await getJson(`${server.url}/api/runs`)
        const detail = await getJson(`${server.url}/api/runs/full`)
        // The server stays healthy: health and the page still answer at once.
        const health = await getJson(`${server.url}/api/health`)
        expect(health.status).to.equal('ok')
        expect((await fetch(`${server.url}/`, {signal: AbortSignal.timeout(5000)})).status).to.equal(200)
        expect(runs.runs).to.have.length(1)
        reached = {error: String(status.error), run: runs.runs[0], detail, dir: join(runsDir, 'full')}
        expect(existsSync(join(reached.dir, 'metrics.json')), 'metrics.json, the mark of a finished run, is left').to.equal(false)
        expect(existsSync(join(reached.dir, 'run_metadata.json'))).to.equal(false)
        expect(temporaries(reached.dir)).to.deep.equal([])
        break
      } finally {
        await server.stop()
        execFileSync('umount', [runsDir])
      }
    }

    expect(reached, 'no tmpfs size filled up while the run wrote its results').to.not.equal(undefined)
    const {error, run, detail} = reached!
    expect(error).to.match(/^cannot write \S+: no space left on the device \(ENOSPC\); free some space or choose another folder$/)
    expect(run.state).to.equal('failed')
    expect(run.complete).to.equal(false)
    expect(run.error).to.equal(error)
    expect(detail.state).to.equal('failed')
    expect(detail.error).to.equal(error)
    expect(detail.metrics).to.equal(null)
    // None of its results is left to be taken for the run's: no plot, no predictions.
    expect(detail.images).to.deep.equal({})
  })
})
