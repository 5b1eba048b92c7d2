import pg from 'pg'

import {UserError, errorMessage} from '../../errors.js'
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

/** Any fixed number: every server migrating the same database takes this advisory lock first. */
const MIGRATION_LOCK_KEY = 480_558
/** Held by the server whose training run is going, on a connection of its own for the run's duration. */
const TRAINING_LOCK_KEY = 480_559

/** The database named by a URL, without its credentials, for messages and health. */
export function describeDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url)
    return `${parsed.hostname}${parsed.port ? `:${parsed.port}` : ''}${parsed.pathname}`
  } catch {
    return 'given with --database-url'
  }
}

/** The shared store, for a deployment where several servers log to one PostgreSQL database. */
export class PostgresStore implements PredictionStore {
  readonly kind = 'postgres'
  private closed = false

  private constructor(
    private readonly pool: pg.Pool,
    readonly location: string,
    private readonly url: string,
  ) {}

  static async open(url: string): Promise<PostgresStore> {
    if (!URL.canParse(url)) {
      throw new UserError(
        '--database-url is not a valid URL; use postgres://user:password@host:5432/db, with special characters of the password percent-encoded',
      )
    }

    const location = describeDatabaseUrl(url)
    const pool = new pg.Pool({connectionString: url, max: 8, connectionTimeoutMillis: 10_000})
    // An idle client losing its connection must not crash the server; the next query reconnects.
    pool.on('error', () => {})
    const store = new PostgresStore(pool, location, url)
    try {
      await store.migrate()
    } catch (error) {
      await pool.end().catch(() => {})
      throw new UserError(
        `cannot use the PostgreSQL database ${location} (${errorMessage(error).replaceAll(/\s+/g, ' ')}); check --database-url and that the server is running`,
      )
    }

    return store
  }

  private async migrate(): Promise<void> {
    await this.transaction(async (client) => {
      // Serialises concurrent starts: the second server waits, then finds nothing pending.
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY])
      await client.query(CREATE_MIGRATIONS_TABLE)
      const applied = await client.query<{version: number}>(`SELECT version FROM ${MIGRATIONS_TABLE}`)
      for (const migration of pending(applied.rows.map((row) => row.version))) {
        await client.query(migration.postgres)
        await client.query(`INSERT INTO ${MIGRATIONS_TABLE} (version, name, applied_at) VALUES ($1, $2, $3)`, [
          migration.version,
          migration.name,
          new Date().toISOString(),
        ])
      }
    })
  }

  /** Run `work` on one connection between BEGIN and COMMIT; any failure rolls it back. */
  private async transaction(work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    const client = await this.pool.connect()
    try {
      await client.query('BEGIN')
      await work(client)
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {})
      throw error
    } finally {
      client.release()
    }
  }

  async insert(prediction: NewPrediction): Promise<PredictionRecord> {
    const result = await this.pool.query<PredictionRow>(
      `INSERT INTO predictions (created_at, thumbnail, predicted, confidence, probs, checkpoint_id, source, known, reason)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
      [
        new Date(),
        prediction.thumbnail,
        prediction.predicted,
        prediction.confidence,
        JSON.stringify(prediction.probs),
        prediction.checkpointId,
        prediction.source,
        prediction.known ?? null,
        prediction.reason ?? null,
      ],
    )
    return rowToRecord(result.rows[0])
  }

  async setFeedback(id: number, label: FeedbackLabel): Promise<PredictionRecord | undefined> {
    const result = await this.pool.query<PredictionRow>('UPDATE predictions SET feedback = $1, feedback_at = $2 WHERE id = $3 RETURNING *', [
      feedbackCode(label),
      new Date(),
      id,
    ])
    return result.rows[0] && rowToRecord(result.rows[0])
  }

  async get(id: number): Promise<PredictionRecord | undefined> {
    const result = await this.pool.query<PredictionRow>('SELECT * FROM predictions WHERE id = $1', [id])
    return result.rows[0] && rowToRecord(result.rows[0])
  }

  async list(query: HistoryQuery): Promise<HistoryPage> {
    const where = historyWhere(query, (n) => `$${n}`)
    const next = where.params.length
    const [total, rows] = await Promise.all([
      this.pool.query<{count: string}>(`SELECT COUNT(*) AS count FROM predictions ${where.sql}`, where.params),
      this.pool.query<PredictionRow>(`SELECT * FROM predictions ${where.sql} ORDER BY id DESC LIMIT $${next + 1} OFFSET $${next + 2}`, [
        ...where.params,
        query.limit,
        query.offset,
      ]),
    ])
    return {items: rows.rows.map(rowToRecord), total: Number(total.rows[0].count), limit: query.limit, offset: query.offset}
  }

  async count(): Promise<number> {
    const result = await this.pool.query<{count: string}>('SELECT COUNT(*) AS count FROM predictions')
    return Number(result.rows[0].count)
  }

  async schemaVersion(): Promise<number> {
    const result = await this.pool.query<{version: number | null}>(`SELECT MAX(version) AS version FROM ${MIGRATIONS_TABLE}`)
    return result.rows[0].version ?? 0
  }

  /**
   * A session-level advisory lock on a connection outside the pool: it lasts
   * as long as that connection, so a server that dies mid-run frees it.
   */
  async claimTraining(): Promise<(() => Promise<void>) | undefined> {
    const client = new pg.Client({connectionString: this.url, connectionTimeoutMillis: 10_000})
    client.on('error', () => {})
    await client.connect()
    try {
      const result = await client.query<{locked: boolean}>('SELECT pg_try_advisory_lock($1) AS locked', [TRAINING_LOCK_KEY])
      if (!result.rows[0].locked) {
        await client.end()
        return undefined
      }
    } catch (error) {
      await client.end().catch(() => {})
      throw error
    }

    let released: Promise<void> | undefined
    return () => {
      released ??= client
        .query('SELECT pg_advisory_unlock($1)', [TRAINING_LOCK_KEY])
        .then(() => client.end())
        .catch(() => client.end().catch(() => {}))
      return released
    }
  }

  async probeWrite(): Promise<void> {
    const probe = PROBE_PREDICTION
    await this.transaction(async (client) => {
      const inserted = await client.query<{id: string}>(
        `INSERT INTO predictions (created_at, thumbnail, predicted, confidence, probs, checkpoint_id, source)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
        [new Date(), probe.thumbnail, probe.predicted, probe.confidence, probe.probs, probe.checkpointId, probe.source],
      )
      await client.query('DELETE FROM predictions WHERE id = $1', [inserted.rows[0].id])
    })
  }

  /**
   * The server or the way to it failed: no connection (a system error, the
   * pool's own timeouts and "Connection terminated"), or an SQLSTATE of class
   * 08 connection, 53 resources (disk full), 57 operator intervention
   * (shutdown), 58 system, 25006 read-only, 40 serialization; anything else
   * (a constraint, a syntax error: a bug) is not an outage.
   */
  isOutage(error: unknown): boolean {
    const {code, syscall} = error as {code?: unknown; syscall?: unknown}
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return /^(08|53|57|58|40)/.test(code) || code === '25006'
    if (typeof syscall === 'string' || (typeof code === 'string' && /^E[A-Z]+$/.test(code))) return true
    return /connection|connect|terminated|timeout|not queryable|pool/i.test(errorMessage(error))
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.pool.end()
  }
}
