/**
 * A database that stops answering (PostgreSQL restarted, the disk of the
 * SQLite file gone) must not turn every request into a 500 and a stack trace
 * in the log. Wrapped in {@link watchOutages}, a store's failures become
 * {@link DatabaseUnavailableError} (the HTTP layer answers 503), the log gets
 * one line when an outage starts and one when it ends, and health can say
 * whether the database answers right now.
 */
import {errorMessage, isUserError} from '../../errors.js'
import {NewPredictionSchema, type PredictionStore} from './types.js'

export class DatabaseUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(`the prediction database is not answering (${reason}); predictions and history are back once it is`)
  }
}

/**
 * A failure inside the store that is not the database being away: a bug, or
 * a value the log cannot hold (the HTTP layer answers 500 with this message).
 */
export class PredictionLogError extends Error {
  constructor(
    readonly operation: string,
    readonly reason: string,
    options?: {cause?: unknown},
  ) {
    super(`the prediction log could not ${operation}: ${reason}`, options)
  }
}

export interface StoreHealth {
  available: boolean
  schemaVersion: number | null
  /** Why the database is not answering, while it is not. */
  error: string | null
}

export interface WatchedStore extends PredictionStore {
  /** Ask the database now (bounded by a timeout); never throws. */
  health(): Promise<StoreHealth>
}

/** Health does not wait longer than this for the database. */
const HEALTH_TIMEOUT_MS = 2000

function reasonOf(error: unknown): string {
  const code = (error as {code?: unknown}).code
  const message = errorMessage(error).replaceAll(/\s+/g, ' ').trim()
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message || String(code ?? 'unknown error')
}

type Operation = {name: string; writes: boolean}

const OPERATIONS = {
  insert: {name: 'log the prediction', writes: true},
  setFeedback: {name: 'record the feedback', writes: true},
  get: {name: 'read the prediction', writes: false},
  list: {name: 'read the history', writes: false},
  count: {name: 'count the predictions', writes: false},
  schemaVersion: {name: 'read its schema version', writes: false},
  claimTraining: {name: 'claim the training lock', writes: false},
} satisfies Record<string, Operation>

export function watchOutages(store: PredictionStore, log: (line: string) => void): WatchedStore {
  /** `writes`: a write failed; a read answering does not end such an outage (a full disk still reads). */
  let outage: {since: number; reason: string; refused: number; writes: boolean} | undefined

  const failed = (error: unknown, operation: Operation): never => {
    // Errors the caller caused stay theirs.
    if (isUserError(error) || error instanceof PredictionLogError) throw error
    const reason = reasonOf(error)
    if (!store.isOutage(error)) throw new PredictionLogError(operation.name, reason, {cause: error})
    if (outage) {
      outage.refused += 1
      outage.writes ||= operation.writes
    } else {
      outage = {since: Date.now(), reason, refused: 1, writes: operation.writes}
      log(`database ${store.kind} ${store.location} is not answering (${reason}); answering 503 until it is back`)
    }

    throw new DatabaseUnavailableError(reason)
  }

  const succeeded = (operation: Operation) => {
    if (!outage || (outage.writes && !operation.writes)) return
    const seconds = ((Date.now() - outage.since) / 1000).toFixed(1)
    log(`database ${store.kind} ${store.location} is answering again after ${seconds} s (${outage.refused} requests answered 503)`)
    outage = undefined
  }

  const watched =
    <A extends unknown[], R>(operation: Operation, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      let result: R
      try {
        result = await call(...args)
      } catch (error) {
        return failed(error, operation)
      }

      succeeded(operation)
      return result
    }

  /** After a failed write, health commits a probe: the outage ends when writes go through again, not at the next read. */
  const probe = watched({name: 'write', writes: true}, () => store.probeWrite())

  return {
    kind: store.kind,
    location: store.location,
    insert: watched(OPERATIONS.insert, async (prediction) => {
      // A model answering NaN is not a database outage: refused before it is written.
      const checked = NewPredictionSchema.safeParse(prediction)
      if (!checked.success) {
        const issue = checked.error.issues[0]
        throw new PredictionLogError(OPERATIONS.insert.name, `"${issue.path.join('.')}" is invalid (${issue.message})`)
      }

      return store.insert(checked.data)
    }),
    setFeedback: watched(OPERATIONS.setFeedback, (id, label) => store.setFeedback(id, label)),
    get: watched(OPERATIONS.get, (id) => store.get(id)),
    list: watched(OPERATIONS.list, (query) => store.list(query)),
    count: watched(OPERATIONS.count, () => store.count()),
    schemaVersion: watched(OPERATIONS.schemaVersion, () => store.schemaVersion()),
    claimTraining: watched(OPERATIONS.claimTraining, () => store.claimTraining()),
    probeWrite: probe,
    isOutage: (error) => store.isOutage(error),
    close: () => store.close(),
    async health() {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS / 1000} s`)), HEALTH_TIMEOUT_MS)
      })
      const ask = async () => {
        const version = await watched(OPERATIONS.schemaVersion, () => store.schemaVersion())()
        if (outage?.writes) await probe()
        return version
      }

      try {
        const version = await Promise.race([ask(), timeout])
        return {available: true, schemaVersion: version, error: null}
      } catch (error) {
        const reason = error instanceof DatabaseUnavailableError || error instanceof PredictionLogError ? error.reason : errorMessage(error)
        return {available: false, schemaVersion: null, error: reason}
      } finally {
        clearTimeout(timer)
      }
    },
  }
}
