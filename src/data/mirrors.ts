/**
 * The HTTP mirrors: one undici agent (proxy-aware, with timeouts and
 * redirects), and per file a walk over the mirrors with retries and
 * exponential backoff. Each failure is sorted into retry this mirror, try the
 * next one, or the network is unreachable; `MirrorsFailed` carries the reason
 * per mirror for the caller's one-line error.
 */
import {createHash} from 'node:crypto'
import {closeSync, createReadStream, openSync, writeSync} from 'node:fs'
import {rename, rm} from 'node:fs/promises'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {type Dispatcher, EnvHttpProxyAgent, interceptors, request} from 'undici'

import {UserError, errorMessage} from '../errors.js'
import {DOWNLOAD_DEFAULTS, DownloadInterrupted, type DownloadOptions, type DownloadedFile, type ExpectedFile, type ProgressSink} from './download-settings.js'
import {temporaryPathFor} from '../util/atomic.js'
import {beforeRename} from '../util/fault.js'

/** The undici agent, created on first use: a run where every file is already verified opens no connection at all. */
export class MirrorTransport {
  #agent: EnvHttpProxyAgent | undefined
  #dispatcher: Dispatcher | undefined

  constructor(private readonly timeoutMs: number) {}

  get dispatcher(): Dispatcher {
    if (this.#dispatcher === undefined) {
      this.#agent = new EnvHttpProxyAgent({
        connect: {timeout: this.timeoutMs},
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      })
      this.#dispatcher = this.#agent.compose(interceptors.redirect({maxRedirections: DOWNLOAD_DEFAULTS.maxRedirections}))
    }

    return this.#dispatcher
  }

  async close(): Promise<void> {
    await this.#agent?.destroy()
  }
}

/** Why one mirror did not deliver a file. */
type Outcome = 'retry' | 'next-mirror' | 'unreachable'

class AttemptError extends Error {
  constructor(
    readonly outcome: Outcome,
    message: string,
  ) {
    super(message)
  }
}

/** The mirrors could not deliver a file; `tried` lists each mirror with its reason. */
export class MirrorsFailed extends UserError {
  constructor(
    message: string,
    readonly summary: string,
    readonly tried: string[],
  ) {
    super(message)
  }
}

export interface FetchContext {
  dataDir: string
  mirrors: string[]
  timeoutMs: number
  retries: number
  backoffMs: number
  getDispatcher: () => Dispatcher
  log: (message: string) => void
  options: DownloadOptions
}

export async function fetchFile(file: ExpectedFile, context: FetchContext): Promise<DownloadedFile> {
  const started = performance.now()
  const target = path.join(context.dataDir, file.name)
  const {signal} = context.options

  const failures: Array<{mirror: string; outcome: Outcome; reason: string}> = []
  for (const mirror of context.mirrors) {
    const url = new URL(file.name, mirror).href
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw new DownloadInterrupted(context.dataDir)
      try {
        const {bytes, md5} = await attemptDownload(url, file, target, context)
        return {name: file.name, bytes, md5, source: 'mirror', from: mirror, mirror, skipped: false, seconds: elapsed(started)}
      } catch (error) {
        if (signal?.aborted) throw new DownloadInterrupted(context.dataDir)
        if (!(error instanceof AttemptError)) throw error
        const attempts = attempt + 1
        if (error.outcome === 'retry' && attempt < context.retries) {
          const wait = Math.min(context.backoffMs * 2 ** attempt, DOWNLOAD_DEFAULTS.maxBackoffMs)
          context.log(`${file.name}: ${error.message} from ${mirror}; retrying in ${formatSeconds(wait / 1000)}`)
          await sleep(wait, undefined, {signal}).catch(() => {})
          continue
        }

        const reason = error.outcome === 'retry' && attempts > 1 ? `${error.message}, ${attempts} attempts` : error.message
        failures.push({mirror, outcome: error.outcome, reason})
        // Unreachable mirrors need no note: the final error lists them if nothing else works.
        if (error.outcome !== 'unreachable' && mirror !== context.mirrors.at(-1)) context.log(`${file.name}: ${reason} from ${mirror}; trying the next mirror`)
        break
      }
    }
  }

  const list = failures.map((failure) => `${failure.mirror} (${failure.reason})`)
  const tried = list.join(', ')
  if (failures.every((failure) => failure.outcome === 'unreachable')) {
    throw new MirrorsFailed(
      `cannot reach any MNIST mirror: ${tried}; check the network connection, or pass a reachable folder that serves the MNIST .gz files with --mirror URL (repeatable)`,
      'cannot reach any MNIST mirror',
      list,
    )
  }

  if (failures.every((failure) => failure.reason.startsWith('MD5 mismatch'))) {
    // Waiting will not help: these mirrors serve other bytes than the official file.
    throw new MirrorsFailed(
      `every mirror serves different bytes for ${file.name} than the official file: ${tried}; pass a mirror that serves the official MNIST files with --mirror URL (repeatable)`,
      `the mirrors serve different bytes for ${file.name} than the official file: ${tried}`,
      list,
    )
  }

  throw new MirrorsFailed(
    `could not download ${file.name}: ${tried}; try again later, or pass another mirror with --mirror URL (repeatable)`,
    `could not download ${file.name} from the mirrors: ${tried}`,
    list,
  )
}

async function attemptDownload(url: string, file: ExpectedFile, target: string, context: FetchContext): Promise<{bytes: number; md5: string}> {
  const {signal} = context.options
  // Same folder as the target, so the final rename is atomic and never crosses file systems.
  const temporary = temporaryPathFor(target, 'part')
  let sink: ProgressSink | undefined
  let bytes = 0
  let total: number | undefined
  try {
    const response = await request(url, {
      dispatcher: context.getDispatcher(),
      signal,
      headersTimeout: context.timeoutMs,
      bodyTimeout: context.timeoutMs,
    }).catch((error: unknown) => {
      throw classify(error)
    })

    if (response.statusCode !== 200) {
      await response.body.dump().catch(() => {})
      throw statusError(response.statusCode)
    }

    total = contentLength(response.headers['content-length'])
    sink = context.options.progress?.({name: file.name, total})
    const hash = createHash('md5')
    let descriptor: number
    try {
      descriptor = openSync(temporary, 'wx')
    } catch (error) {
      throw cannotWrite(temporary, error)
    }

    // Chunk by chunk, each written before the next is read: the body waits for the disk.
    // (undici 7 could crash the process when a server closed the connection during
    // that wait, nodejs/undici#5360; undici 8 finishes the response instead.)
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        try {
          writeAll(descriptor, chunk)
        } catch (error) {
          throw cannotWrite(temporary, error)
        }

        hash.update(chunk)
        bytes += chunk.length
        sink?.update(bytes)
      }
    } catch (error) {
      throw error instanceof UserError ? error : classify(error, bytes, total)
    } finally {
      closeSync(descriptor)
    }

    const md5 = hash.digest('hex')
    if (md5 !== file.md5) {
      // A mirror that serves other bytes will keep doing so: no point retrying it.
      throw new AttemptError('next-mirror', `MD5 mismatch: got ${md5}, expected ${file.md5}`)
    }

    beforeRename()
    await rename(temporary, target)
    return {bytes, md5}
  } finally {
    sink?.done()
    // After a successful rename this finds nothing; after any failure it removes the partial bytes.
    await rm(temporary, {force: true})
  }
}

function statusError(status: number): AttemptError {
  // 408 and 429 say "later", 5xx says "not now": worth another try. Other 4xx will not change.
  const transient = status >= 500 || status === 408 || status === 429
  return new AttemptError(transient ? 'retry' : 'next-mirror', `HTTP ${status}`)
}

const UNREACHABLE: Record<string, string> = {
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EAI_FAIL: 'host name lookup failed',
  ECONNREFUSED: 'connection refused',
  ENETUNREACH: 'network unreachable',
  EHOSTUNREACH: 'host unreachable',
  // A connect that times out means a blackholed route: retrying would only wait the same again.
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
}

const TRANSIENT: Record<string, string> = {
  UND_ERR_HEADERS_TIMEOUT: 'timed out waiting for a response',
  UND_ERR_SOCKET: 'connection closed by the server',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  ETIMEDOUT: 'connection timed out',
}

function classify(error: unknown, bytes = 0, total?: number): AttemptError {
  if (error instanceof AttemptError) return error
  const code = errorCode(error)
  if (code !== undefined && code in UNREACHABLE) return new AttemptError('unreachable', UNREACHABLE[code])
  const partial = total !== undefined && bytes > 0 ? ` after ${bytes} of ${total} bytes` : ''
  if (code === 'UND_ERR_BODY_TIMEOUT') return new AttemptError('retry', `timed out waiting for data${partial}`)
  if (partial) return new AttemptError('retry', `connection ended${partial}`)
  if (code !== undefined && code in TRANSIENT) return new AttemptError('retry', TRANSIENT[code])
  // Anything else on the wire (a malformed response, a TLS hiccup) may well pass on another try.
  return new AttemptError('retry', errorMessage(error))
}

function errorCode(error: unknown): string | undefined {
  // DNS and socket errors sometimes arrive wrapped (fetch-style `cause`).
  for (let current = error, depth = 0; current instanceof Error && depth < 4; depth++) {
    const {code} = current as Error & {code?: unknown}
    if (typeof code === 'string') return code
    current = current.cause
  }

  return undefined
}

function cannotWrite(file: string, error: unknown): UserError {
  return new UserError(`cannot write ${file} (${errorMessage(error)}); check the free space and permissions of the data folder`)
}

function writeAll(descriptor: number, chunk: Buffer): void {
  for (let offset = 0; offset < chunk.length;) offset += writeSync(descriptor, chunk, offset)
}

function contentLength(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header
  if (value === undefined || !/^\d+$/.test(value)) return undefined
  return Number(value)
}

export async function md5OfExisting(file: string): Promise<{bytes: number; md5: string} | undefined> {
  const hash = createHash('md5')
  let bytes = 0
  try {
    for await (const chunk of createReadStream(file)) {
      hash.update(chunk as Buffer)
      bytes += (chunk as Buffer).length
    }
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined
    throw new UserError(`cannot read ${file} (${errorMessage(error)}); remove it or choose another --data-dir`)
  }

  return {bytes, md5: hash.digest('hex')}
}

export function elapsed(started: number): number {
  return Math.round(performance.now() - started) / 1000
}

export function formatSeconds(seconds: number): string {
  return `${Number(seconds.toFixed(2))} s`
}
