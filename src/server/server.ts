import {once} from 'node:events'
import type {Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join, resolve} from 'node:path'

import {createAdaptorServer} from '@hono/node-server'

import {randomBytes} from 'node:crypto'

import {UserError, errorMessage} from '../errors.js'
import {createApp} from './app.js'
import {TOKEN_QUERY, allowedHosts, isLoopbackHost} from './guard.js'
import {loadWebAssets} from './assets.js'
import {DecodePool} from './decoder.js'
import {drainUnreadBodies} from './drain.js'
import {IMAGE_URL_DEFAULTS} from './image-url.js'
import {ModelSlot} from './model.js'
import {RunsFolder} from './runs.js'
import {DEFAULT_DATABASE_FILE, openStore} from './store/index.js'
import {type WatchedStore, watchOutages} from './store/outage.js'
import {TrainingManager} from './training.js'

/** A refused body is read and dropped up to this many times the upload limit, for at most this long, then the connection is closed. */
const DRAIN_BYTES_PER_LIMIT = 4
const DRAIN_TIMEOUT_MS = 30_000

/** Defaults of `serve`, shared by the command's flags and the library. */
export const SERVE_DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  runsDir: 'runs',
  dataDir: 'data',
  /** A drawing is a few kilobytes and a phone photo a few megabytes; beyond this, 413. */
  maxUploadBytes: 5 * 1024 * 1024,
  /**
   * A 12-megapixel phone photo fits; a 6000×6000 JPEG (1 MB of bytes, about
   * 1.5 GB to decode) is refused from its header.
   */
  maxImagePixels: 16_000_000,
  keepAliveSeconds: 15,
} as const

export interface ServeOptions {
  /** 0 picks any free port. */
  port?: number
  host?: string
  /**
   * The model to predict with, or several served side by side (the first answers requests that name
   * no model); without one, predictions answer 503 until a run from the page finishes.
   */
  checkpointPath?: string | readonly string[]
  runsDir?: string
  /** MNIST files for training from the page; also holds the embedded prediction database. */
  dataDir?: string
  /** postgres://… for PostgreSQL, sqlite:FILE for another SQLite file; default `<dataDir>/predictions.sqlite`. */
  databaseUrl?: string
  maxUploadBytes?: number
  /** Largest image decoded, in pixels (read from the header first; 413 beyond). */
  maxImagePixels?: number
  /** Worker threads decoding uploads (default: the machine's cores, at most 4). */
  decodeWorkers?: number
  keepAliveSeconds?: number
  /** Further host names the server answers to (a reverse proxy's public name); loopback names and --host always are. */
  allowedHosts?: string[]
  /**
   * Access token every API request must carry (cookie from `/?token=…`, or
   * `Authorization: Bearer …`). A server bound beyond loopback gets a random
   * one when none is given; `false` turns it off.
   */
  token?: string | false
  /** Let `POST /api/predict {"url"}` fetch from loopback, private and link-local addresses. */
  allowPrivateUrls?: boolean
  /** Time limit of fetching an image by URL. */
  urlTimeoutMs?: number
  /** Where the server's own notes go (stderr by default). */
  log?: (message: string) => void
}

export interface RunningServer {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:8080 */
  readonly url: string
  /** The URL to open in a browser: `url` with the access token, when there is one. */
  readonly openUrl: string
  readonly token: string | undefined
  readonly port: number
  readonly store: WatchedStore
  readonly model: ModelSlot
  readonly training: TrainingManager
  /** Stop listening, end event streams and any training run, release the model and the database. */
  close(): Promise<void>
}

/** Start the web app; resolves once it is listening. Throws UserError for anything the options got wrong. */
export async function startServer(options: ServeOptions = {}): Promise<RunningServer> {
  const log = options.log ?? ((message: string) => process.stderr.write(`${message}\n`))
  const host = options.host ?? SERVE_DEFAULTS.host
  const port = options.port ?? SERVE_DEFAULTS.port
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new UserError(`--port must be an integer from 0 to 65535, got ${port}`)
  const dataDir = resolve(options.dataDir ?? SERVE_DEFAULTS.dataDir)
  const runs = new RunsFolder(resolve(options.runsDir ?? SERVE_DEFAULTS.runsDir))
  const exposed = !isLoopbackHost(host)
  const token = options.token === false ? undefined : (options.token ?? (exposed ? randomBytes(18).toString('base64url') : undefined))
  if (token !== undefined && !/^[\w.~-]{16,}$/.test(token)) {
    throw new UserError('--token must be at least 16 characters of letters, digits, "-", "_", "." or "~"')
  }

  if (exposed) {
    log(
      `warning: --host ${host} lets other machines reach this server${token === undefined ? ' with no access token' : '; they need the access token in the URL below'}`,
    )
  }

  const model = new ModelSlot()
  // Several checkpoints are served side by side; the first answers requests that name no model.
  const checkpoints = typeof options.checkpointPath === 'string' ? [options.checkpointPath] : [...(options.checkpointPath ?? [])]
  try {
    for (const path of [...checkpoints].reverse()) await model.load(resolve(path))
  } catch (error) {
    model.dispose()
    throw error
  }

  let store: WatchedStore
  try {
    store = watchOutages(await openStore(options.databaseUrl, join(dataDir, DEFAULT_DATABASE_FILE)), log)
  } catch (error) {
    model.dispose()
    throw error
  }

  const training = new TrainingManager({runsDir: runs.root, dataDir, model, claimTraining: () => store.claimTraining(), log})
  const decoder = new DecodePool({maxPixels: options.maxImagePixels ?? SERVE_DEFAULTS.maxImagePixels, workers: options.decodeWorkers})

  let stopping!: () => void
  const closing = new Promise<void>((resolve) => {
    stopping = resolve
  })
  const app = createApp({
    store,
    model,
    decoder,
    training,
    runs,
    assets: loadWebAssets(),
    dataDir,
    maxUploadBytes: options.maxUploadBytes ?? SERVE_DEFAULTS.maxUploadBytes,
    imageUrls: {allowPrivate: options.allowPrivateUrls ?? false, timeoutMs: options.urlTimeoutMs ?? IMAGE_URL_DEFAULTS.timeoutMs},
    keepAliveSeconds: options.keepAliveSeconds ?? SERVE_DEFAULTS.keepAliveSeconds,
    closing,
    guard: {allowedHosts: allowedHosts(host, options.allowedHosts), token},
    log,
  })

  // Unread request bodies are drained here, with bounds a loaded machine meets, not by the adaptor's 500 ms.
  const server = createAdaptorServer({fetch: app.fetch, autoCleanupIncoming: false}) as Server
  drainUnreadBodies(server, {maxBytes: DRAIN_BYTES_PER_LIMIT * (options.maxUploadBytes ?? SERVE_DEFAULTS.maxUploadBytes), timeoutMs: DRAIN_TIMEOUT_MS})
  try {
    server.listen(port, host)
    await once(server, 'listening')
  } catch (error) {
    model.dispose()
    await store.close()
    await decoder.close()
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') throw new UserError(`port ${port} on ${host} is already in use; choose another with --port (0 picks a free one)`)
    if (code === 'EACCES') throw new UserError(`no permission to listen on ${host}:${port}; use a port above 1023`)
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UserError(`cannot listen on ${host}: no such local address; use --host 127.0.0.1`)
    throw new UserError(`cannot listen on ${host}:${port} (${errorMessage(error)})`)
  }

  const address = server.address() as AddressInfo
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
  let closed: Promise<void> | undefined
  const url = `http://${shownHost}:${address.port}`
  return {
    url,
    openUrl: token === undefined ? url : `${url}/?${TOKEN_QUERY}=${token}`,
    token,
    port: address.port,
    store,
    model,
    training,
    close() {
      closed ??= (async () => {
        stopping()
        await training.close()
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
        server.closeAllConnections()
        await stopped
        await decoder.close()
        model.dispose()
        await store.close()
      })()
      return closed
    },
  }
}
