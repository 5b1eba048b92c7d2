/**
 * The prediction log when the database fails, and when something else does.
 *
 * A full disk (SQLite on a 2 MiB tmpfs, when the tests run as root): every
 * 200 carries a distinct id whose row is stored, every other answer is 503,
 * and health says degraded until writes go through again. The battery saw
 * 990 answers of 200 carry 8 ids, for 7 stored rows, with health "ok".
 *
 * An error inside the store that is not the database being away (a value the
 * log refuses, a constraint) is a 500 that says so, not "not answering".
 */
import {expect} from 'chai'
import {execFileSync} from 'node:child_process'
import {closeSync, openSync, rmSync, writeSync} from 'node:fs'
import {join} from 'node:path'

import type {RunningServer} from '../../src/server/index.js'
import {nodeSqlite} from '../../src/server/store/node-sqlite.js'
import {DatabaseUnavailableError, PredictionLogError, watchOutages} from '../../src/server/store/outage.js'
import {SqliteStore} from '../../src/server/store/sqlite.js'
import {thumbnailDataUri} from '../../src/server/thumbnail.js'
import {rejectionOf} from '../helpers/assert.js'
import {fixtureDigitPngs, startFixtureServer, trainedCheckpoint} from '../server/helpers.js'
import {tempDir} from './helpers.js'

interface Answer {
  status: number
  body: {id?: number; created_at?: string; thumbnail?: string; error?: string; feedback?: number}
}

async function send(url: string, init: RequestInit): Promise<Answer> {
  const response = await fetch(url, init)
  return {status: response.status, body: (await response.json()) as Answer['body']}
}

/** Write zeros into `file` until the file system refuses: the disk is full. */
function fill(file: string): void {
  const fd = openSync(file, 'w')
  const chunk = Buffer.alloc(16 * 1024)
  try {
    for (;;) writeSync(fd, chunk)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error
  } finally {
    closeSync(fd)
  }
}

describe('faults: the prediction log', function () {
  this.timeout(180_000)

  describe('SQLite on a full disk (2 MiB tmpfs)', () => {
    let dir: string
    let mounted = false
    let server: RunningServer | undefined

    before(function () {
      dir = tempDir('store-full')
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], {stdio: 'ignore'})
        mounted = true
      } catch {
        process.stderr.write('    (skipping the full-disk test: mounting a tmpfs needs root)\n')
        this.skip()
      }
    })

    after(async () => {
      await server?.close()
      if (mounted) execFileSync('umount', [dir])
    })

    it('acknowledges only stored predictions, each with its own id; the rest 503; health degraded until writes go through', async () => {
      const database = join(dir, 'predictions.sqlite')
      server = await startFixtureServer(dir, {checkpointPath: await trainedCheckpoint(), databaseUrl: `sqlite:${database}`})
      const pngs = (await fixtureDigitPngs(40)).map(({png}) => new Uint8Array(png))
      const predict = (i: number) => send(`${server!.url}/api/predict`, {method: 'POST', headers: {'content-type': 'image/png'}, body: pngs[i % pngs.length]})
      const feedback = (id: number) =>
        send(`${server!.url}/api/feedback`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({id, label: 5})})
      expect((await predict(0)).status).to.equal(200)

      fill(join(dir, 'filler'))
      const answers: Answer[] = []
      for (let round = 0; round < 40; round++) answers.push(...(await Promise.all(Array.from({length: 8}, (_, i) => predict(round * 8 + i)))))
      const acknowledged = answers.filter((answer) => answer.status === 200)
      const refused = answers.filter((answer) => answer.status !== 200)
      expect(refused.length, 'the disk never filled').to.be.above(0)
      for (const answer of refused) {
        expect(answer.status).to.equal(503)
        expect(answer.body.error).to.match(/^the prediction database is not answering \(.*full.*\)/)
      }

      const ids = acknowledged.map((answer) => answer.body.id!)
      expect(new Set(ids).size, 'ids handed out twice').to.equal(ids.length)
      const health = await send(`${server.url}/api/health`, {})
      expect(health.status).to.equal(503)
      expect((health.body as {status?: string}).status).to.equal('degraded')

      // Feedback on a full disk: 200 only when recorded.
      const feedbackAnswers = await Promise.all(ids.slice(0, 20).map(async (id) => ({id, answer: await feedback(id)})))
      for (const {answer} of feedbackAnswers) expect(answer.status).to.be.oneOf([200, 503])

      // Space again: health finds writes go through (no prediction needed), and new ids are new.
      rmSync(join(dir, 'filler'))
      const recovered = await send(`${server.url}/api/health`, {})
      expect(recovered.status).to.equal(200)
      expect((recovered.body as {status?: string}).status).to.equal('ok')
      const after = await predict(1)
      expect(after.status).to.equal(200)
      expect(ids).to.not.include(after.body.id)
      await server.close()
      server = undefined

      // Every acknowledged prediction and feedback is in the file, as answered.
      const {DatabaseSync} = nodeSqlite()
      const db = new DatabaseSync(database, {readOnly: true})
      try {
        const row = db.prepare('SELECT created_at, thumbnail, feedback FROM predictions WHERE id = ?')
        for (const answer of acknowledged) {
          const stored = row.get(answer.body.id!) as {created_at: string; thumbnail: string} | undefined
          expect(stored, `prediction ${answer.body.id} was acknowledged but not stored`).to.not.equal(undefined)
          expect(stored).to.deep.include({created_at: answer.body.created_at, thumbnail: answer.body.thumbnail})
        }

        for (const {id, answer} of feedbackAnswers) {
          const stored = row.get(id) as {feedback: number | null}
          if (answer.status === 200) expect(stored.feedback, `feedback on ${id} acknowledged but not stored`).to.equal(5)
        }
      } finally {
        db.close()
      }
    })
  })

  describe('errors inside the store that are not an outage', () => {
    const prediction = {
      thumbnail: thumbnailDataUri(new Float32Array(784).fill(0.5)),
      predicted: 8 as const,
      confidence: 0.9,
      probs: {'0': 0.05, '5': 0.05, '8': 0.9},
      checkpointId: 'abc123def456',
      source: 'canvas' as const,
    }

    it('a prediction the log cannot hold (NaN probabilities) is refused as such, not as an outage, and nothing is written', async () => {
      const lines: string[] = []
      const store = watchOutages(SqliteStore.open(join(tempDir('store-nan'), 'p.sqlite')), (line) => lines.push(line))
      try {
        const error = await rejectionOf(
          store.insert({...prediction, confidence: Number.NaN, probs: {'0': Number.NaN, '5': Number.NaN, '8': Number.NaN}}),
          PredictionLogError,
        )
        expect(error).to.not.be.instanceOf(DatabaseUnavailableError)
        expect(error.message).to.match(/^the prediction log could not log the prediction: "confidence" is invalid/)
        expect(await store.count()).to.equal(0)
        expect(await store.health()).to.deep.include({available: true})
        expect(lines).to.deep.equal([])
      } finally {
        await store.close()
      }
    })

    it('serve answers 500 naming the failure, health stays ok, for a database that answers but refuses the row', async () => {
      const dir = tempDir('store-refuses')
      const database = join(dir, 'predictions.sqlite')
      const lines: string[] = []
      const server = await startFixtureServer(dir, {
        checkpointPath: await trainedCheckpoint(),
        databaseUrl: `sqlite:${database}`,
        log: (line) => lines.push(line),
      })
      try {
        const {DatabaseSync} = nodeSqlite()
        const db = new DatabaseSync(database)
        db.exec("CREATE TRIGGER refuse BEFORE INSERT ON predictions BEGIN SELECT RAISE(ABORT, 'rows are refused here'); END")
        db.close()
        const png = new Uint8Array((await fixtureDigitPngs(1))[0].png)
        const answer = await send(`${server.url}/api/predict`, {method: 'POST', headers: {'content-type': 'image/png'}, body: png})
        expect(answer.status).to.equal(500)
        expect(answer.body.error).to.match(/^the prediction log could not log the prediction: .*rows are refused here/)
        const health = await send(`${server.url}/api/health`, {})
        expect(health.status).to.equal(200)
        expect(lines.join('\n')).to.not.include('not answering')
      } finally {
        await server.close()
      }
    })
  })
})
