/**
 * The web app against hostile requests and run folders: a JSON body of
 * hundreds of megabytes (the battery's 400 MB feedback was read whole, RSS
 * 0.25 → 1.48 GB, then answered 200), and a run folder holding a FIFO or a
 * symlink to /dev/zero (the dashboard never answered, and after four such
 * requests no file read of the server did).
 */
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {mkdirSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {RunningServer} from '../../src/server/index.js'
import {startFixtureServer} from '../server/helpers.js'
import {tempDir} from './helpers.js'

/** Every answer here is due within this; a hang fails the test instead of stalling the suite. */
const ANSWER_WITHIN_MS = 10_000

async function send(url: string, init: RequestInit = {}): Promise<{status: number; body: Record<string, unknown>}> {
  const response = await fetch(url, {...init, signal: AbortSignal.timeout(ANSWER_WITHIN_MS)})
  const type = response.headers.get('content-type') ?? ''
  return {status: response.status, body: type.startsWith('application/json') ? ((await response.json()) as Record<string, unknown>) : {}}
}

describe('faults: hostile requests and run folders', function () {
  this.timeout(120_000)
  let dir: string
  let server: RunningServer

  before(async () => {
    dir = tempDir('server')
    server = await startFixtureServer(dir)
  })

  after(async () => {
    await server?.close()
  })

  describe('request bodies', () => {
    const json = {'content-type': 'application/json'}

    for (const path of ['/api/feedback', '/api/train', '/api/train/cancel', '/api/runs/some-run/activate']) {
      it(`POST ${path} with 8 MiB of JSON: 413 with a JSON error, the body never parsed`, async () => {
        const body = JSON.stringify({id: 1, label: 5, padding: 'x'.repeat(8 * 1024 * 1024)})
        const answer = await send(`${server.url}${path}`, {method: 'POST', headers: json, body})
        expect(answer.status).to.equal(413)
        expect(answer.body.error).to.match(/^the request body is larger than the 64 KiB limit/)
      })
    }

    it('a body streamed without a length (chunked) is cut off at the limit too', async () => {
      let sent = 0
      const chunk = new TextEncoder().encode(`${' '.repeat(64 * 1024 - 1)}\n`)
      // Without end: only the server stopping it lets the request finish.
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          sent += chunk.length
          if (sent > 512 * 1024 * 1024) controller.close()
          else controller.enqueue(chunk)
        },
      })
      const answer = await send(`${server.url}/api/feedback`, {method: 'POST', headers: json, body, duplex: 'half'} as RequestInit)
      expect(answer.status).to.equal(413)
      expect(sent).to.be.below(64 * 1024 * 1024)
    })

    it('a body within the limit is still read', async () => {
      const answer = await send(`${server.url}/api/feedback`, {method: 'POST', headers: json, body: JSON.stringify({id: 123_456, label: 5})})
      expect(answer.status).to.equal(404)
    })
  })

  describe('run folders holding what is not a regular file', () => {
    before(() => {
      const runs = join(dir, 'runs')
      const fifoRun = join(runs, 'fifo-run')
      mkdirSync(join(fifoRun, 'logs'), {recursive: true})
      execFileSync('mkfifo', [join(fifoRun, 'metrics.json')])
      execFileSync('mkfifo', [join(fifoRun, 'logs', 'metrics.json')])
      writeFileSync(join(fifoRun, 'best.ckpt'), 'not a checkpoint')
      const zeroRun = join(runs, 'zero-run')
      mkdirSync(zeroRun, {recursive: true})
      writeFileSync(join(zeroRun, 'metrics.json'), 'not json')
      symlinkSync('/dev/zero', join(zeroRun, 'loss_curves.json'))
      symlinkSync('/dev/zero', join(zeroRun, 'run_metadata.json'))
      symlinkSync('/dev/zero', join(zeroRun, 'confusion_matrix.png'))
    })

    it('the dashboard answers at once, and reports each such file as a problem of its run', async () => {
      // More requests at once than libuv has threads: none may hold one.
      const lists = await Promise.all(Array.from({length: 6}, () => send(`${server.url}/api/runs`)))
      for (const list of lists) expect(list.status).to.equal(200)
      const runs = lists[0].body.runs as Array<{name: string; problems: number}>
      expect(runs.map((run) => run.name).sort()).to.deep.equal(['fifo-run', 'zero-run'])

      const fifo = await send(`${server.url}/api/runs/fifo-run`)
      expect(fifo.status).to.equal(200)
      expect(fifo.body.problems).to.deep.include({file: 'metrics.json', problem: 'cannot read: it is a named pipe (FIFO), not a regular file'})
      const zero = await send(`${server.url}/api/runs/zero-run`)
      expect(zero.status).to.equal(200)
      expect(zero.body.problems).to.deep.include({file: 'loss_curves.json', problem: 'cannot read: it is a character device, not a regular file'})
      expect((await send(`${server.url}/api/runs/zero-run/files/confusion_matrix.png`)).status).to.equal(404)
      expect((await send(`${server.url}/api/env`)).status).to.equal(200)
    })
  })
})
