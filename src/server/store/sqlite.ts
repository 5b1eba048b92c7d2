import {dirname} from 'node:path'

import type {DatabaseSync, SQLInputValue} from 'node:sqlite'

import {UserError, errorMessage} from '../../errors.js'
import {makeFolderSync} from '../../util/paths.js'
import {CREATE_MIGRATIONS_TABLE, MIGRATIONS_TABLE, pending} from './migrations.js'
import {
  type FeedbackLabel,
  type HistoryPage,
  type HistoryQuery,
  type NewPrediction,
  type PredictionRecord,
  type PredictionRow,
  type PredictionStore,
  PROBE_PREDICTION,
  feedbackCode,
  historyWhere,
  rowToRecord,
} from './types.js'
import {nodeSqlite} from './node-sqlite.js'

/**
 * The embedded store: one SQLite file, nothing to set up, nothing compiled at
 * install (Node's built-in SQLite). Every write is its own transaction: a
 * prediction the server acknowledged survives the process being killed.
 */
/** The size the write-ahead log is cut back to after each checkpoint. */
const WAL_LIMIT_BYTES = 8 * 1024 * 1024
const WAL_CHECKPOINT_EVERY = 100

/**
 * Primary result codes that say the file or its disk failed: SQLITE_PERM,
 * BUSY, LOCKED, NOMEM, READONLY, INTERRUPT, IOERR, CORRUPT, FULL, CANTOPEN,
 * PROTOCOL, NOTADB (https://sqlite.org/rescode.html).
 */
const OUTAGE_CODES = new Set([3, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 26])
const SQLITE_BUSY = 5

/** How long a statement waits for another process's lock on the file. */
const BUSY_TIMEOUT_MS = 5000

/**
 * Run `step`, again while SQLite answers SQLITE_BUSY, up to the busy timeout.
 * Switching a new file to WAL needs it to itself: when two servers start on it
 * together, SQLite answers one of them BUSY at once instead of waiting (a wait
 * could deadlock the two), so the busy timeout alone does not cover it.
 */
function whileBusy(step: () => void): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS
  for (;;) {
    try {
      step()
      return
    } catch (error) {
      const {code, errcode} = error as {code?: unknown; errcode?: unknown}
      const busy = code === 'ERR_SQLITE_ERROR' && typeof errcode === 'number' && (errcode & 0xff) === SQLITE_BUSY
      if (!busy || Date.now() > deadline) throw error
      // Start-up only, so a synchronous pause: the other server's switch takes milliseconds.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5 + Math.random() * 20)
    }
  }
}

export class SqliteStore implements PredictionStore {
  readonly kind = 'sqlite'
  private readonly db: DatabaseSync
  private closed = false

  private constructor(readonly location: string) {
    try {
      if (location !== ':memory:') makeFolderSync(dirname(location), 'choose another place with --database-url sqlite:FILE')
      const {DatabaseSync} = nodeSqlite()
      this.db = new DatabaseSync(location)
      // First: a second server starting on the same file waits for the first one's locks instead of failing.
      this.db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)
      // WAL lets the history page read while predictions are being written.
      whileBusy(() => this.db.exec('PRAGMA journal_mode = WAL'))
      // A long reader stops checkpoints and the WAL grows; without a limit it then stays at its peak size for ever.
      this.db.exec(`PRAGMA journal_size_limit = ${WAL_LIMIT_BYTES}`)
    } catch (error) {
      // The folder check's line already says what is wrong and what to do.
      if (error instanceof UserError) throw new UserError(`cannot open the prediction database ${location}: ${error.message}`)
      throw new UserError(`cannot open the prediction database ${location} (${errorMessage(error)}); check the folder is writable or pass --database-url`)
    }
  }

  static open(file: string): SqliteStore {
    const store = new SqliteStore(file)
    try {
      store.checkIntegrity()
    } catch (error) {
      store.closed = true
      store.db.close()
      throw error
    }

    try {
      store.migrate()
    } catch (error) {
      store.closed = true
      store.db.close()
      throw new UserError(`cannot prepare the prediction database ${file} (${errorMessage(error)}); is it a SQLite file written by this package?`)
    }

    return store
  }

  /**
   * A damaged file opens without complaint and fails on the first query that
   * touches a bad page: check every page now, so it is reported at start, once.
   */
  private checkIntegrity(): void {
    let problem: string | undefined
    try {
      const rows = this.db.prepare('PRAGMA quick_check(3)').all() as Array<Record<string, unknown>>
      const found = rows.map((row) => String(Object.values(row)[0]))
      if (found.join() !== 'ok') problem = found.join('; ')
    } catch (error) {
      problem = errorMessage(error)
    }

    if (problem !== undefined) {
      throw new UserError(
        `the prediction database ${this.location} is damaged (${problem.replaceAll(/\s+/g, ' ')}); move it aside (serve then starts a new one) or restore a backup`,
      )
    }
  }

  private migrate(): void {
    this.db.exec(CREATE_MIGRATIONS_TABLE)
    const applied = this.db.prepare(`SELECT version FROM ${MIGRATIONS_TABLE}`).all() as Array<{version: number}>
    const record = this.db.prepare(`INSERT INTO ${MIGRATIONS_TABLE} (version, name, applied_at) VALUES (?, ?, ?)`)
    for (const migration of pending(applied.map((row) => row.version))) {
      // IMMEDIATE: a second server starting on the same file waits here instead of migrating twice.
      this.db.exec('BEGIN IMMEDIATE')
      try {
        // Another process may have applied it while this one waited for the lock.
        if (!this.db.prepare(`SELECT 1 FROM ${MIGRATIONS_TABLE} WHERE version = ?`).get(migration.version)) {
          this.db.exec(migration.sqlite)
          record.run(migration.version, migration.name, new Date().toISOString())
        }

        this.db.exec('COMMIT')
      } catch (error) {
        this.db.exec('ROLLBACK')
        throw error
      }
    }
  }

  /** The first row of a query over `predictions` (columns as PredictionRow), if any. */
  private row(sql: string, ...params: SQLInputValue[]): PredictionRow | undefined {
    return this.db.prepare(sql).get(...params) as unknown as PredictionRow | undefined
  }

  /**
   * Every write goes through here: its rows (RETURNING) once it is committed.
   * `.all()` steps the statement to its end, which in autocommit is the
   * commit, and throws when that fails; `.get()` returns the first row and
   * drops the error of the commit, so a full disk answered rows never stored,
   * and their ids again to the next writes.
   */
  private write(sql: string, ...params: SQLInputValue[]): PredictionRow[] {
    const rows = this.db.prepare(sql).all(...params) as unknown as PredictionRow[]
    this.afterWrite()
    return rows
  }

  private scalar(sql: string, ...params: SQLInputValue[]): number | null {
    const row = this.db.prepare(sql).get(...params) as {value: number | null} | undefined
    return row?.value ?? null
  }

  async insert(prediction: NewPrediction): Promise<PredictionRecord> {
    const [row] = this.write(
      `INSERT INTO predictions (created_at, thumbnail, predicted, confidence, probs, checkpoint_id, source, known, reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      new Date().toISOString(),
      prediction.thumbnail,
      prediction.predicted,
      prediction.confidence,
      JSON.stringify(prediction.probs),
      prediction.checkpointId,
      prediction.source,
      // SQLite has no booleans: 1 or 0.
      prediction.known === undefined ? null : Number(prediction.known),
      prediction.reason ?? null,
    )
    return rowToRecord(row)
  }

  private writes = 0

  /**
   * Every WAL_CHECKPOINT_EVERY writes, a passive checkpoint (it never waits for
   * readers): once no reader pins old pages the log restarts and is cut back to
   * WAL_LIMIT_BYTES, where SQLite's automatic checkpoint alone left it at its peak.
   */
  private afterWrite(): void {
    if (++this.writes % WAL_CHECKPOINT_EVERY !== 0) return
    try {
      this.db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get()
    } catch {
      // The write is committed (in the log); a checkpoint that fails (a full disk) is retried by the next one.
    }
  }

  async setFeedback(id: number, label: FeedbackLabel): Promise<PredictionRecord | undefined> {
    const [row] = this.write('UPDATE predictions SET feedback = ?, feedback_at = ? WHERE id = ? RETURNING *', feedbackCode(label), new Date().toISOString(), id)
    return row && rowToRecord(row)
  }

  async get(id: number): Promise<PredictionRecord | undefined> {
    const row = this.row('SELECT * FROM predictions WHERE id = ?', id)
    return row && rowToRecord(row)
  }

  async list(query: HistoryQuery): Promise<HistoryPage> {
    const where = historyWhere(query, () => '?')
    const total = this.scalar(`SELECT COUNT(*) AS value FROM predictions ${where.sql}`, ...where.params) ?? 0
    const rows = this.db
      .prepare(`SELECT * FROM predictions ${where.sql} ORDER BY id DESC LIMIT ? OFFSET ?`)
      .all(...where.params, query.limit, query.offset) as unknown as PredictionRow[]
    return {items: rows.map(rowToRecord), total, limit: query.limit, offset: query.offset}
  }

  async count(): Promise<number> {
    return this.scalar('SELECT COUNT(*) AS value FROM predictions') ?? 0
  }

  /** One server owns an SQLite file; its training manager already runs one run at a time. */
  async claimTraining(): Promise<(() => Promise<void>) | undefined> {
    return async () => {}
  }

  async probeWrite(): Promise<void> {
    const probe = PROBE_PREDICTION
    this.db.exec('BEGIN IMMEDIATE')
    try {
      const [{id}] = this.db
        .prepare(
          `INSERT INTO predictions (created_at, thumbnail, predicted, confidence, probs, checkpoint_id, source)
           VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
        )
        .all(new Date().toISOString(), probe.thumbnail, probe.predicted, probe.confidence, probe.probs, probe.checkpointId, probe.source) as Array<{id: number}>
      this.db.prepare('DELETE FROM predictions WHERE id = ?').run(id)
      this.db.exec('COMMIT')
    } catch (error) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK')
      throw error
    }
  }

  /** SQLite's own failures of the file and its disk; anything else (a constraint, a bug) is not an outage. */
  isOutage(error: unknown): boolean {
    const {code, errcode} = error as {code?: unknown; errcode?: unknown}
    // The connection was closed under a request: the server is shutting down.
    if (code === 'ERR_INVALID_STATE') return true
    return code === 'ERR_SQLITE_ERROR' && typeof errcode === 'number' && OUTAGE_CODES.has(errcode & 0xff)
  }

  async schemaVersion(): Promise<number> {
    return this.scalar(`SELECT MAX(version) AS value FROM ${MIGRATIONS_TABLE}`) ?? 0
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.db.close()
  }
}
