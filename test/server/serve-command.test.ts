import {type ChildProcess, spawn} from 'node:child_process'
import {once} from 'node:events'
import {createServer} from 'node:net'
import {join} from 'node:path'

import {expect} from 'chai'

import {BIN} from '../helpers/fixtures.js'
import {tempDir} from './helpers.js'

interface Finished {
  code: number | null
  stdout: string
  stderr: string
}

function run(args: string[]): {child: ChildProcess; finished: Promise<Finished>; stderrLine(pattern: RegExp): Promise<RegExpExecArray>} {
  const child = spawn(process.execPath, [BIN, ...args], {stdio: ['ignore', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const finished = once(child, 'close').then(([code]) => ({code: code as number | null, stdout, stderr}))
  return {
    child,
    finished,
    stderrLine: (pattern) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stderr)
          if (match) {
            child.stderr!.off('data', check)
            resolve(match)
          }
        }

        child.stderr!.on('data', check)
        void finished.then(() => reject(new Error(`exited before printing ${pattern}: ${stderr}`)))
        check()
      }),
  }
}

describe('digit-classification serve (the CLI)', function () {
  this.timeout(60_000)
  let temp: Awaited<ReturnType<typeof tempDir>>

  before(async () => {
    temp = await tempDir()
  })
  after(async () => temp?.remove())

  it('serves on a free port, prints the URL on stderr, keeps stdout clean, and stops on SIGTERM', async () => {
    const serve = run(['serve', '--port', '0', '--runs-dir', join(temp.dir, 'runs'), '--data-dir', join(temp.dir, 'data')])
    const [, url] = await serve.stderrLine(/serving on (http:\/\/127\.0\.0\.1:\d+)/)
    const health = (await (await fetch(`${url}/api/health`)).json()) as {model: {loaded: boolean}; store: {kind: string; location: string}}
    expect(health.model.loaded).to.equal(false)
    expect(health.store).to.deep.include({kind: 'sqlite', location: join(temp.dir, 'data', 'predictions.sqlite')})
    serve.child.kill('SIGTERM')
    const {code, stdout, stderr} = await serve.finished
    expect(code).to.equal(0)
    expect(stdout).to.equal('')
    expect(stderr).to.include('no model loaded')
  })

  it('fails in one line for a missing checkpoint, a busy port, and a bad database URL', async () => {
    const missing = await run(['serve', '--port', '0', '--checkpoint-path', join(temp.dir, 'nope.ckpt'), '--data-dir', temp.dir]).finished
    expect(missing.code).to.not.equal(0)
    expect(missing.stderr.trim().split('\n')).to.have.length(1)
    expect(missing.stderr).to.match(/nope\.ckpt not found/)

    const blocker = createServer().listen(0, '127.0.0.1')
    await once(blocker, 'listening')
    const port = (blocker.address() as {port: number}).port
    try {
      const busy = await run(['serve', '--port', String(port), '--data-dir', temp.dir]).finished
      expect(busy.code).to.not.equal(0)
      expect(busy.stderr.trim().split('\n')).to.have.length(1)
      expect(busy.stderr).to.include(`port ${port} on 127.0.0.1 is already in use; choose another with --port (0 picks a free one)`)
    } finally {
      blocker.close()
    }

    const database = await run(['serve', '--port', '0', '--database-url', 'mongodb://localhost/x', '--data-dir', temp.dir]).finished
    expect(database.code).to.not.equal(0)
    expect(database.stderr).to.match(/--database-url: unsupported URL "mongodb:…"/)
  })
})
