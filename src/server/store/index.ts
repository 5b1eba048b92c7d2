import {resolve} from 'node:path'

import {UserError} from '../../errors.js'
import {PostgresStore} from './postgres.js'
import {SqliteStore} from './sqlite.js'
import type {PredictionStore} from './types.js'

export type {FeedbackFilter, HistoryPage, HistoryQuery, NewPrediction, PredictionRecord, PredictionStore} from './types.js'

/** File name of the embedded database inside the server's data folder. */
export const DEFAULT_DATABASE_FILE = 'predictions.sqlite'

/**
 * Open the prediction log: PostgreSQL for `postgres://` (or `postgresql://`)
 * URLs, SQLite for `sqlite:PATH` or `file:PATH`, and without a URL the
 * embedded file `fallbackFile`.
 */
export async function openStore(databaseUrl: string | undefined, fallbackFile: string): Promise<PredictionStore> {
  if (databaseUrl === undefined || databaseUrl === '') return SqliteStore.open(resolve(fallbackFile))
  if (/^postgres(ql)?:\/\//i.test(databaseUrl)) return PostgresStore.open(databaseUrl)
  const file = /^(sqlite|file):(.+)$/i.exec(databaseUrl)?.[2]
  if (file) return SqliteStore.open(file === ':memory:' ? file : resolve(file.replace(/^\/\/(?=\/)/, '')))
  throw new UserError(
    `--database-url: unsupported URL "${databaseUrl.split(':')[0]}:…"; use postgres://user:password@host:5432/db, or sqlite:path/to/file.sqlite`,
  )
}
