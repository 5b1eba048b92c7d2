import {mkdirSync} from 'node:fs'
import {dirname} from 'node:path'

import Database from 'better-sqlite3'

import type {ClassLabel} from '../../config.js'
import {UserError, errorMessage} from '../../errors.js'
import {CREATE_MIGRATIONS_TABLE, MIGRATIONS_TABLE, pending} from './migrations.js'
import {
  type HistoryPage,
  type HistoryQuery,
  type NewPrediction,
  type PredictionRecord,
  type PredictionRow,
  type PredictionStore,
  historyWhere,
  rowToRecord,
} from './types.js'

/** The embedded store: one SQLite file, nothing to set up. */
export class SqliteStore implements PredictionStore {
  readonly kind = 'sqlite'
  private readonly db: Database.Database

  private constructor(readonly location: string) {
    try {
      if (location !== ':memory:') mkdirSync(dirname(location), {recursive: true})
      this.db = new Database(location)
      // WAL lets the history page read while predictions are being written.
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('busy_timeout = 5000')
    } catch (error) {
      throw new UserError(`cannot open the prediction database ${location} (${errorMessage(error)}); check the folder is writable or pass --database-url`)
    }
  }

  static open(file: string): SqliteStore {
    const store = new SqliteStore(file)
    try {
      store.migrate()
    } catch (error) {
      store.db.close()
      throw new UserError(`cannot prepare the prediction database ${file} (${errorMessage(error)}); is it a SQLite file written by this package?`)
    }

    return store
  }

  private migrate(): void {
    this.db.exec(CREATE_MIGRATIONS_TABLE)
    const applied = this.db.prepare(`SELECT version FROM ${MIGRATIONS_TABLE}`).pluck().all() as number[]
    const record = this.db.prepare(`INSERT INTO ${MIGRATIONS_TABLE} (version, name, applied_at) VALUES (?, ?, ?)`)
    for (const migration of pending(applied)) {
      this.db.transaction(() => {
        this.db.exec(migration.sqlite)
        record.run(migration.version, migration.name, new Date().toISOString())
      }).immediate()
    }
  }

  async insert(prediction: NewPrediction): Promise<PredictionRecord> {
    const row = this.db
      .prepare(
        `INSERT INTO predictions (created_at, thumbnail, predicted, confidence, probs, checkpoint_id, source)
         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      )
      .get(
        new Date().toISOString(),
        prediction.thumbnail,
        prediction.predicted,
        prediction.confidence,
        JSON.stringify(prediction.probs),
        prediction.checkpointId,
        prediction.source,
      ) as PredictionRow
    return rowToRecord(row)
  }

  async setFeedback(id: number, label: ClassLabel): Promise<PredictionRecord | undefined> {
    const row = this.db.prepare('UPDATE predictions SET feedback = ?, feedback_at = ? WHERE id = ? RETURNING *').get(label, new Date().toISOString(), id) as
      | PredictionRow
      | undefined
    return row && rowToRecord(row)
  }

  async get(id: number): Promise<PredictionRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM predictions WHERE id = ?').get(id) as PredictionRow | undefined
    return row && rowToRecord(row)
  }

  async list(query: HistoryQuery): Promise<HistoryPage> {
    const where = historyWhere(query, () => '?')
    const total = this.db.prepare(`SELECT COUNT(*) FROM predictions ${where.sql}`).pluck().get(...where.params) as number
    const rows = this.db
      .prepare(`SELECT * FROM predictions ${where.sql} ORDER BY id DESC LIMIT ? OFFSET ?`)
      .all(...where.params, query.limit, query.offset) as PredictionRow[]
    return {items: rows.map(rowToRecord), total, limit: query.limit, offset: query.offset}
  }

  async count(): Promise<number> {
    return this.db.prepare('SELECT COUNT(*) FROM predictions').pluck().get() as number
  }

  async schemaVersion(): Promise<number> {
    return (this.db.prepare(`SELECT MAX(version) FROM ${MIGRATIONS_TABLE}`).pluck().get() as number | null) ?? 0
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close()
  }
}
