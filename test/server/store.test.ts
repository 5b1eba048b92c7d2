import {spawn} from 'node:child_process'
import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {expect} from 'chai'
import pg from 'pg'

import {UserError} from '../../src/errors.js'
import {CREATE_MIGRATIONS_TABLE, MIGRATIONS} from '../../src/server/store/migrations.js'
import {type NewPrediction, type PredictionStore, openStore} from '../../src/server/store/index.js'
import {nodeSqlite} from '../../src/server/store/node-sqlite.js'
import {PostgresStore} from '../../src/server/store/postgres.js'
import {SqliteStore} from '../../src/server/store/sqlite.js'
import {thumbnailDataUri} from '../../src/server/thumbnail.js'
import {expectUserRejection} from '../helpers/assert.js'
import {isolatedSchema, postgresUrl, tempDir} from './helpers.js'

function prediction(predicted: 0 | 5 | 8, confidence = 0.9): NewPrediction {
  const rest = (1 - confidence) / 2
  const probs = {'0': rest, '5': rest, '8': rest}
  probs[String(predicted) as '0' | '5' | '8'] = confidence
  return {thumbnail: thumbnailDataUri(new Float32Array(784).fill(0.5)), predicted, confidence, probs, checkpointId: 'abc123def456', source: 'canvas'}
}

/** Rows as a server before migration 3 logged them: no `known`, feedback a digit or none. */
const OLD_ROWS = [
  {predicted: 8, feedback: 8},
  {predicted: 0, feedback: 5},
  {predicted: 5, feedback: null},
] as const

/** The columns of `predictions` before migration 3, in order, and one old row's values. */
const OLD_COLUMNS = 'created_at, thumbnail, predicted, confidence, probs, checkpoint_id, source, feedback, feedback_at'
function oldRowValues(row: (typeof OLD_ROWS)[number], createdAt: string | Date): Array<string | number | Date | null> {
  const p = prediction(row.predicted)
  return [
    createdAt,
    p.thumbnail,
    p.predicted,
    p.confidence,
    JSON.stringify(p.probs),
    'oldmodel0001',
    p.source,
    row.feedback,
    row.feedback === null ? null : createdAt,
  ]
}

/** What an old database must read as once opened by this version, and take after. */
async function checkMigratedOldRows(store: PredictionStore): Promise<void> {
  expect(await store.schemaVersion()).to.equal(MIGRATIONS.at(-1)!.version)
  const old = await store.list({feedback: 'any', limit: 50, offset: 0})
  expect(old.items.map((r) => ({predicted: r.predicted, feedback: r.feedback, known: r.known, reason: r.reason}))).to.deep.equal(
    [...OLD_ROWS].reverse().map((row) => ({...row, known: null, reason: null})),
  )
  expect((await store.list({feedback: 'wrong', limit: 50, offset: 0})).items.map((r) => r.predicted)).to.deep.equal([0])
  // The old rows take feedback "other", and new rows their answer's `known`.
  const undecided = old.items.find((r) => r.feedback === null)!
  expect(await store.setFeedback(undecided.id, 'other')).to.include({feedback: 'other', known: null})
  const added = await store.insert({...prediction(5), known: false, reason: 'not one of 0, 5, 8'})
  expect(added).to.include({known: false, reason: 'not one of 0, 5, 8'})
  expect(added.id).to.be.greaterThan(Math.max(...old.items.map((r) => r.id)))
  expect((await store.list({feedback: 'other', limit: 50, offset: 0})).items.map((r) => r.id)).to.deep.equal([undecided.id])
}

/** The same behaviour is required of both stores. */
function storeContract(open: () => Promise<{store: PredictionStore; reopen(): Promise<PredictionStore>; cleanup(): Promise<void>}>) {
  let store: PredictionStore
  let reopen: () => Promise<PredictionStore>
  let cleanup: () => Promise<void>

  beforeEach(async function () {
    ;({store, reopen, cleanup} = await open.call(this))
  })
  afterEach(async () => {
    await store?.close()
    await cleanup?.()
  })

  it('applies every migration once, and none again on reopening', async () => {
    expect(await store.schemaVersion()).to.equal(MIGRATIONS.at(-1)!.version)
    await store.insert(prediction(8))
    await store.close()
    store = await reopen()
    expect(await store.schemaVersion()).to.equal(MIGRATIONS.at(-1)!.version)
    expect(await store.count()).to.equal(1)
  })

  it('logs a prediction and reads it back as written', async () => {
    const input = prediction(5, 0.75)
    const record = await store.insert(input)
    expect(record.id).to.be.a('number').greaterThan(0)
    expect(new Date(record.createdAt).getTime()).to.be.closeTo(Date.now(), 60_000)
    expect(record).to.deep.include({...input, feedback: null, feedbackAt: null})
    expect(await store.get(record.id)).to.deep.equal(record)
    expect(await store.get(record.id + 1000)).to.equal(undefined)
  })

  it('records feedback on an existing prediction only', async () => {
    const record = await store.insert(prediction(8))
    const updated = await store.setFeedback(record.id, 5)
    expect(updated?.feedback).to.equal(5)
    expect(updated?.feedbackAt).to.be.a('string')
    expect((await store.get(record.id))?.feedback).to.equal(5)
    expect(await store.setFeedback(record.id + 1000, 0)).to.equal(undefined)
  })

  it('filters the history by predicted label and by feedback, newest first, in pages', async () => {
    const ids: number[] = []
    for (const label of [0, 5, 8, 8, 0, 8] as const) ids.push((await store.insert(prediction(label))).id)
    await store.setFeedback(ids[0], 0) // correct
    await store.setFeedback(ids[2], 5) // wrong
    await store.setFeedback(ids[3], 8) // correct
    const page = (query: Partial<Parameters<PredictionStore['list']>[0]>) => store.list({feedback: 'any', limit: 50, offset: 0, ...query})

    const all = await page({})
    expect(all.total).to.equal(6)
    expect(all.items.map((r) => r.id)).to.deep.equal([...ids].reverse())
    expect((await page({predicted: 8})).items.map((r) => r.id)).to.deep.equal([ids[5], ids[3], ids[2]])
    expect((await page({feedback: 'none'})).total).to.equal(3)
    expect((await page({feedback: 'given'})).total).to.equal(3)
    expect((await page({feedback: 'correct'})).items.map((r) => r.id)).to.deep.equal([ids[3], ids[0]])
    expect((await page({feedback: 'wrong'})).items.map((r) => r.id)).to.deep.equal([ids[2]])
    expect((await page({predicted: 8, feedback: 'correct'})).items.map((r) => r.id)).to.deep.equal([ids[3]])

    const second = await page({limit: 4, offset: 4})
    expect(second).to.include({total: 6, limit: 4, offset: 4})
    expect(second.items.map((r) => r.id)).to.deep.equal([ids[1], ids[0]])
  })

  it('stores whether the answer knew the image, and takes feedback "other", listed by "other" and by "wrong"', async () => {
    const known = await store.insert({...prediction(8), known: true})
    const noDigit = await store.insert({...prediction(0, 0.4), known: false, reason: 'no digit'})
    const notOurs = await store.insert({...prediction(5, 0.5), known: false, reason: 'not one of 0, 5, 8'})
    const unsaid = await store.insert(prediction(8))
    expect(known).to.include({known: true, reason: null})
    expect(noDigit).to.include({known: false, reason: 'no digit'})
    expect(await store.get(notOurs.id)).to.include({known: false, reason: 'not one of 0, 5, 8'})
    expect(unsaid).to.include({known: null, reason: null})

    const other = await store.setFeedback(notOurs.id, 'other')
    expect(other).to.include({feedback: 'other'})
    expect(other?.feedbackAt).to.be.a('string')
    expect(await store.get(notOurs.id)).to.include({feedback: 'other', known: false})
    await store.setFeedback(noDigit.id, 'other')
    await store.setFeedback(known.id, 8) // correct
    await store.setFeedback(unsaid.id, 5) // wrong
    const page = (query: Partial<Parameters<PredictionStore['list']>[0]>) => store.list({feedback: 'any', limit: 50, offset: 0, ...query})
    expect((await page({feedback: 'other'})).items.map((r) => r.id)).to.deep.equal([notOurs.id, noDigit.id])
    expect((await page({feedback: 'wrong'})).items.map((r) => r.id)).to.deep.equal([unsaid.id, notOurs.id, noDigit.id])
    expect((await page({feedback: 'correct'})).items.map((r) => r.id)).to.deep.equal([known.id])
    expect((await page({feedback: 'given'})).total).to.equal(4)
    expect((await page({feedback: 'other', predicted: 5})).items.map((r) => r.id)).to.deep.equal([notOurs.id])
    // A digit again replaces "other".
    expect(await store.setFeedback(notOurs.id, 5)).to.include({feedback: 5})
    expect((await page({feedback: 'other'})).items.map((r) => r.id)).to.deep.equal([noDigit.id])
  })

  it('gives concurrent inserts distinct ids and loses none', async () => {
    const records = await Promise.all(Array.from({length: 40}, (_, i) => store.insert(prediction(([0, 5, 8] as const)[i % 3]))))
    expect(new Set(records.map((r) => r.id)).size).to.equal(40)
    expect(await store.count()).to.equal(40)
  })
}

describe('prediction store: SQLite', () => {
  storeContract(async () => {
    const temp = await tempDir()
    const file = join(temp.dir, 'nested', 'predictions.sqlite')
    return {store: await openStore(undefined, file), reopen: () => openStore(`sqlite:${file}`, 'unused'), cleanup: temp.remove}
  })

  it('opens sqlite: and file: URLs, and refuses a file that is not a database', async () => {
    const temp = await tempDir()
    try {
      const store = await openStore(`file:${join(temp.dir, 'a.sqlite')}`, 'unused')
      expect(store.kind).to.equal('sqlite')
      expect(store.location).to.equal(join(temp.dir, 'a.sqlite'))
      await store.close()
      await writeFile(join(temp.dir, 'junk.sqlite'), 'this is not a database, just text long enough to have a header'.repeat(20))
      await expectUserRejection(openStore(`sqlite:${join(temp.dir, 'junk.sqlite')}`, 'unused'), /cannot .* prediction database .*junk\.sqlite/)
      await writeFile(join(temp.dir, 'file'), 'x')
      await expectUserRejection(openStore(undefined, join(temp.dir, 'file', 'db.sqlite')), /cannot open the prediction database/)
    } finally {
      await temp.remove()
    }
  })

  it('reports a damaged file at start, in one line, instead of failing every request later', async () => {
    const temp = await tempDir()
    try {
      const file = join(temp.dir, 'predictions.sqlite')
      const store = await openStore(`sqlite:${file}`, 'unused')
      for (let i = 0; i < 100; i++) await store.insert(prediction(8))
      await store.close()
      // Scramble the pages after the schema: the file still opens, its tables do not read.
      const bytes = await readFile(file)
      bytes.fill(0x5a, 3 * 4096, bytes.length - 4096)
      await writeFile(file, bytes)
      await expectUserRejection(
        openStore(`sqlite:${file}`, 'unused'),
        /^the prediction database .*predictions\.sqlite is damaged \(.+\); move it aside \(serve then starts a new one\) or restore a backup$/,
      )
    } finally {
      await temp.remove()
    }
  })

  it('keeps the file intact and every acknowledged prediction when the process is killed mid-write', async () => {
    const temp = await tempDir()
    try {
      const file = join(temp.dir, 'predictions.sqlite')
      const writer = fileURLToPath(new URL('sqlite-writer.ts', import.meta.url))
      const child = spawn(process.execPath, ['--import', 'tsx', writer, file], {stdio: ['ignore', 'pipe', 'pipe']})
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      const acknowledged = new Map<number, string>()
      let pending = ''
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)))
      child.stdout.on('data', (chunk: Buffer) => {
        pending += chunk.toString()
        const lines = pending.split('\n')
        pending = lines.pop()!
        for (const line of lines) {
          const [id, checkpointId] = line.split(' ')
          acknowledged.set(Number(id), checkpointId)
        }

        // Well into a stream of back-to-back writes: one is almost certainly in flight.
        if (acknowledged.size >= 300) child.kill('SIGKILL')
      })
      expect(await exited).to.equal('SIGKILL', `writer ended by itself: ${stderr}`)
      expect(stderr).to.equal('') // nothing on stderr, in particular no ExperimentalWarning on Node 22
      expect(acknowledged.size).to.be.at.least(300)

      const {DatabaseSync} = nodeSqlite()
      const raw = new DatabaseSync(file)
      expect(raw.prepare('PRAGMA journal_mode').get()).to.deep.include({journal_mode: 'wal'})
      expect(
        raw
          .prepare('PRAGMA integrity_check')
          .all()
          .map((row) => row.integrity_check),
      ).to.deep.equal(['ok'])
      raw.close()

      const store = SqliteStore.open(file)
      try {
        const count = await store.count()
        expect(count).to.be.at.least(acknowledged.size)
        for (const [id, checkpointId] of acknowledged) expect((await store.get(id))?.checkpointId).to.equal(checkpointId)
        // Rows are whole and numbered without gaps: nothing half-written after the last acknowledged one either.
        const page = await store.list({feedback: 'any', limit: 500, offset: 0})
        expect(page.items.map((r) => r.id)).to.deep.equal(Array.from({length: Math.min(count, 500)}, (_, i) => count - i))
        expect(page.items.every((r) => r.checkpointId === `write-${r.id - 1}`)).to.equal(true)
        // And the file takes new writes after the crash.
        expect((await store.insert(prediction(5))).id).to.equal(count + 1)
      } finally {
        await store.close()
      }
    } finally {
      await temp.remove()
    }
  })

  it('opens a predictions.sqlite of migrations 1–2 (before "known" and "other"): migrates it, reads its rows, takes the new ones', async () => {
    const temp = await tempDir()
    try {
      const file = join(temp.dir, 'predictions.sqlite')
      const {DatabaseSync} = nodeSqlite()
      const raw = new DatabaseSync(file)
      raw.exec(CREATE_MIGRATIONS_TABLE)
      for (const migration of MIGRATIONS.filter((m) => m.version <= 2)) {
        raw.exec(migration.sqlite)
        raw
          .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
          .run(migration.version, migration.name, '2026-11-01T00:00:00.000Z')
      }

      const insert = raw.prepare(`INSERT INTO predictions (${OLD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      for (const row of OLD_ROWS) insert.run(...(oldRowValues(row, '2026-11-01T10:00:00.000Z') as Array<string | number | null>))
      raw.close()

      const store = SqliteStore.open(file)
      try {
        await checkMigratedOldRows(store)
      } finally {
        await store.close()
      }

      // And again: nothing left to migrate, everything still there.
      const again = SqliteStore.open(file)
      expect(await again.count()).to.equal(OLD_ROWS.length + 1)
      await again.close()
    } finally {
      await temp.remove()
    }
  })

  it('refuses other database URLs with one line saying what is supported', async () => {
    await expectUserRejection(openStore('mysql://root@localhost/db', 'unused'), /unsupported URL "mysql:…".*postgres:\/\//)
  })
})

describe('prediction store: PostgreSQL', () => {
  let base: string
  before(function () {
    base = postgresUrl(this)
  })

  storeContract(async () => {
    const schema = await isolatedSchema(base)
    return {store: await openStore(schema.url, 'unused'), reopen: () => openStore(schema.url, 'unused'), cleanup: schema.drop}
  })

  it('migrates once when two servers start on the same empty database at the same time', async () => {
    const schema = await isolatedSchema(base)
    try {
      const stores = await Promise.all([PostgresStore.open(schema.url), PostgresStore.open(schema.url), PostgresStore.open(schema.url)])
      const client = new pg.Client({connectionString: schema.url})
      await client.connect()
      const rows = await client.query('SELECT version FROM schema_migrations ORDER BY version')
      await client.end()
      expect(rows.rows.map((row: {version: number}) => row.version)).to.deep.equal(MIGRATIONS.map((m) => m.version))
      await Promise.all(stores.map((store) => store.close()))
    } finally {
      await schema.drop()
    }
  })

  it('migrates a database of migrations 1–2 (before "known" and "other"), keeping its rows', async () => {
    const schema = await isolatedSchema(base)
    try {
      const client = new pg.Client({connectionString: schema.url})
      await client.connect()
      await client.query(CREATE_MIGRATIONS_TABLE)
      for (const migration of MIGRATIONS.filter((m) => m.version <= 2)) {
        await client.query(migration.postgres)
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
          migration.version,
          migration.name,
          '2026-11-01T00:00:00.000Z',
        ])
      }

      for (const row of OLD_ROWS) {
        await client.query(
          `INSERT INTO predictions (${OLD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          oldRowValues(row, new Date('2026-11-01T10:00:00.000Z')),
        )
      }

      await client.end()
      const store = await PostgresStore.open(schema.url)
      try {
        await checkMigratedOldRows(store)
      } finally {
        await store.close()
      }
    } finally {
      await schema.drop()
    }
  })

  it('hides credentials in its location and explains a connection failure in one line', async () => {
    const schema = await isolatedSchema(base)
    const store = await openStore(schema.url, 'unused')
    expect(store.kind).to.equal('postgres')
    expect(store.location).to.not.include('digit_test:')
    expect(store.location).to.match(/^127\.0\.0\.1:\d+\//)
    await store.close()
    await schema.drop()
    // Port 1 on loopback: nothing listens there.
    const error = await openStore('postgres://nobody:secret@127.0.0.1:1/nowhere', 'unused').catch((error_: unknown) => error_)
    expect(error).to.be.instanceOf(UserError)
    expect((error as Error).message).to.match(/^cannot use the PostgreSQL database 127\.0\.0\.1:1\/nowhere .*--database-url/)
    expect((error as Error).message).to.not.include('secret')
    expect((error as Error).message).to.not.include('\n')
  })
})
