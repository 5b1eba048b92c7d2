/**
 * A database that stops answering (PostgreSQL restarted, the disk of the
 * SQLite file gone) must not turn every request into a 500 and a stack trace
 * in the log. Wrapped in {@link watchOutages}, a store's failures become
 * {@link DatabaseUnavailableError} (the HTTP layer answers 503), the log gets
 * one line when an outage starts and one when it ends, and health can say
 * whether the database answers right now.
 */
import {errorMessage, isUserError} from '../../errors.js'
import type {PredictionStore} from './types.js'

export class DatabaseUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(`the prediction database is not answering (${reason}); predictions and history are back once it is`)
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

export function watchOutages(store: PredictionStore, log: (line: string) => void): WatchedStore {
  let outage: {since: number; reason: string; refused: number} | undefined

  const failed = (error: unknown): never => {
    // Errors the caller caused stay theirs.
    if (isUserError(error)) throw error
    const reason = reasonOf(error)
    if (outage) outage.refused += 1
    else {
      outage = {since: Date.now(), reason, refused: 1}
      log(`database ${store.kind} ${store.location} is not answering (${reason}); answering 503 until it is back`)
    }

    throw new DatabaseUnavailableError(reason)
  }

  const succeeded = () => {
    if (!outage) return
    const seconds = ((Date.now() - outage.since) / 1000).toFixed(1)
    log(`database ${store.kind} ${store.location} is answering again after ${seconds} s (${outage.refused} requests answered 503)`)
    outage = undefined
  }

  const watched = <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      let result: R
      try {
        result = await call(...args)
      } catch (error) {
        return failed(error)
      }

      succeeded()
      return result
    }

  return {
    kind: store.kind,
    location: store.location,
    insert: watched((prediction) => store.insert(prediction)),
    setFeedback: watched((id, label) => store.setFeedback(id, label)),
    get: watched((id) => store.get(id)),
    list: watched((query) => store.list(query)),
    count: watched(() => store.count()),
    schemaVersion: watched(() => store.schemaVersion()),
    claimTraining: watched(() => store.claimTraining()),
    close: () => store.close(),
    async health() {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS / 1000} s`)), HEALTH_TIMEOUT_MS)
      })
      try {
        const version = await Promise.race([watched(() => store.schemaVersion())(), timeout])
        return {available: true, schemaVersion: version, error: null}
      } catch (error) {
        const reason = error instanceof DatabaseUnavailableError ? error.reason : errorMessage(error)
        return {available: false, schemaVersion: null, error: reason}
      } finally {
        clearTimeout(timer)
      }
    },
  }
}
