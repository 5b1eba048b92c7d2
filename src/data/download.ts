/**
 * Fetch the MNIST .gz files into a folder, verified by MD5.
 *
 * Each file is streamed to a temporary file next to its final place and
 * renamed only once its checksum matches, so the official name only ever
 * holds verified bytes. A file already present with the right checksum is
 * kept without any network I/O.
 */
import {createHash, randomBytes} from 'node:crypto'
import {closeSync, createReadStream, openSync, writeSync} from 'node:fs'
import {mkdir, rename, rm, rmdir} from 'node:fs/promises'
import path from 'node:path'
import {finished} from 'node:stream/promises'
import {setTimeout as sleep} from 'node:timers/promises'

import {type Dispatcher, EnvHttpProxyAgent, interceptors, request} from 'undici'
import {z} from 'zod'

import {DEFAULT_MIRRORS, MNIST_FILES} from '../config.js'
import {UserError, errorMessage} from '../errors.js'

/** Defaults of the download knobs; the command's flags show these too. */
export const DOWNLOAD_DEFAULTS = {
  timeoutSeconds: 30,
  retries: 3,
  /** First retry waits this long, then twice as long each time. */
  backoffMs: 500,
  maxBackoffMs: 30_000,
  maxRedirections: 5,
} as const

/** An http(s) URL of a folder holding the MNIST files; a trailing slash is added if missing. */
export const MirrorUrl = z
  .url({
    protocol: /^https?$/,
    error: (issue) => `mirror ${JSON.stringify(issue.input)} is not an http(s) URL; pass a folder URL such as --mirror https://host/mnist/`,
  })
  .transform((value) => {
    const url = new URL(value)
    if (!url.pathname.endsWith('/')) url.pathname += '/'
    return url.href
  })

export const ExpectedFile = z.object({
  // A plain file name: it becomes a path inside the data folder and a URL inside the mirror.
  name: z.string().regex(/^[\w.-]+$/, 'file names must be plain names (letters, digits, . _ -)'),
  md5: z.string().regex(/^[\da-f]{32}$/, 'md5 must be 32 lowercase hex digits'),
})
export type ExpectedFile = z.infer<typeof ExpectedFile>

export const DownloadSettings = z.object({
  dataDir: z.string().min(1, 'the data folder must not be empty'),
  mirrors: z
    .array(MirrorUrl)
    .min(1, 'at least one mirror is needed')
    .default(() => [...DEFAULT_MIRRORS]),
  /** The files and their expected sums; the official MNIST four unless given. */
  files: z
    .array(ExpectedFile)
    .min(1)
    .default(() => Object.values(MNIST_FILES).map((file) => ({...file}))),
  /** Connect, response-headers and idle-body timeout, each. */
  timeoutMs: z
    .number()
    .int()
    .positive()
    .default(DOWNLOAD_DEFAULTS.timeoutSeconds * 1000),
  /** Extra attempts per mirror after a transient failure. */
  retries: z.number().int().min(0).default(DOWNLOAD_DEFAULTS.retries),
  backoffMs: z.number().int().min(0).default(DOWNLOAD_DEFAULTS.backoffMs),
})
export type DownloadSettings = z.input<typeof DownloadSettings>

/** Receives byte counts while one file streams in (see `createProgress`). */
export interface ProgressSink {
  update(bytes: number): void
  done(): void
}

export interface DownloadOptions extends DownloadSettings {
  /** Called when a file's body starts streaming. */
  progress?: (file: {name: string; total: number | undefined}) => ProgressSink
  /** Notes worth a line on stderr: retries, fallbacks, re-downloads. */
  log?: (message: string) => void
  /** Aborting stops at once and removes the partial file. */
  signal?: AbortSignal
}

export const DownloadedFile = z.object({
  name: z.string(),
  bytes: z.number().int().nonnegative(),
  md5: z.string(),
  /** Where the bytes came from; null when the file was already present and verified. */
  mirror: z.string().nullable(),
  skipped: z.boolean(),
  seconds: z.number().nonnegative(),
})
export type DownloadedFile = z.infer<typeof DownloadedFile>

export const DownloadSummary = z.object({
  dataDir: z.string(),
  files: z.array(DownloadedFile),
})
export type DownloadSummary = z.infer<typeof DownloadSummary>

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

export class DownloadInterrupted extends UserError {
  constructor(dataDir: string) {
    super(`download interrupted; no partial file was left in ${dataDir}, run the command again to resume`, {
      exitCode: 130,
    })
    this.name = 'DownloadInterrupted'
  }
}

export async function downloadMnist(options: DownloadOptions): Promise<DownloadSummary> {
  const parsed = DownloadSettings.safeParse(options)
  if (!parsed.success) throw new UserError(parsed.error.issues[0]?.message ?? 'invalid download settings')
  const settings = parsed.data
  const dataDir = path.resolve(settings.dataDir)
  const log = options.log ?? (() => {})

  let created: string | undefined
  try {
    created = await mkdir(dataDir, {recursive: true})
  } catch (error) {
    throw new UserError(`cannot create the data folder ${dataDir} (${errorMessage(error)}); choose another --data-dir`)
  }

  // Created lazily: a run where every file is already verified opens no connection at all.
  let agent: EnvHttpProxyAgent | undefined
  let dispatcher: Dispatcher | undefined
  const getDispatcher = (): Dispatcher => {
    if (dispatcher === undefined) {
      agent = new EnvHttpProxyAgent({
        connect: {timeout: settings.timeoutMs},
        headersTimeout: settings.timeoutMs,
        bodyTimeout: settings.timeoutMs,
      })
      dispatcher = agent.compose(interceptors.redirect({maxRedirections: DOWNLOAD_DEFAULTS.maxRedirections}))
    }

    return dispatcher
  }

  const files: DownloadedFile[] = []
  let mirrors = settings.mirrors
  try {
    for (const file of settings.files) {
      const result = await fetchFile(file, {...settings, dataDir, mirrors, getDispatcher, log, options})
      files.push(result)
      // Keep using the mirror that just worked, so all files come from one source.
      if (result.mirror !== null) mirrors = [result.mirror, ...settings.mirrors.filter((m) => m !== result.mirror)]
    }
  } catch (error) {
    if (created !== undefined) await removeEmptyFolders(dataDir, created)
    throw error
  } finally {
    await agent?.destroy()
  }

  return {dataDir, files}
}

interface FetchContext {
  dataDir: string
  mirrors: string[]
  timeoutMs: number
  retries: number
  backoffMs: number
  getDispatcher: () => Dispatcher
  log: (message: string) => void
  options: DownloadOptions
}

async function fetchFile(file: ExpectedFile, context: FetchContext): Promise<DownloadedFile> {
  const started = performance.now()
  const target = path.join(context.dataDir, file.name)
  const {signal} = context.options

  const present = await md5OfExisting(target)
  if (present?.md5 === file.md5) {
    return {name: file.name, bytes: present.bytes, md5: present.md5, mirror: null, skipped: true, seconds: elapsed(started)}
  }

  if (present !== undefined) {
    context.log(`${file.name}: present but its MD5 is ${present.md5}, expected ${file.md5}; downloading it again`)
  }

  const failures: Array<{mirror: string; outcome: Outcome; reason: string}> = []
  for (const mirror of context.mirrors) {
    const url = new URL(file.name, mirror).href
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw new DownloadInterrupted(context.dataDir)
      try {
        const {bytes, md5} = await attemptDownload(url, file, target, context)
        return {name: file.name, bytes, md5, mirror, skipped: false, seconds: elapsed(started)}
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

  const tried = failures.map((failure) => `${failure.mirror} (${failure.reason})`).join(', ')
  if (failures.every((failure) => failure.outcome === 'unreachable')) {
    throw new UserError(
      `cannot reach any MNIST mirror: ${tried}; check the network connection, or pass a reachable folder that serves the MNIST .gz files with --mirror URL (repeatable)`,
    )
  }

  throw new UserError(
    `could not download ${file.name}: ${tried}; try again later, or pass another mirror with --mirror URL (repeatable)`,
  )
}

async function attemptDownload(
  url: string,
  file: ExpectedFile,
  target: string,
  context: FetchContext,
): Promise<{bytes: number; md5: string}> {
  const {signal} = context.options
  // Same folder as the target, so the final rename is atomic and never crosses file systems.
  const temporary = path.join(context.dataDir, `.${file.name}.${process.pid}-${randomBytes(4).toString('hex')}.part`)
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

    // Flowing mode with synchronous writes: the body never pushes back, because
    // undici 7 crashes the process (an assertion no code can catch) when a server
    // closes the connection while the HTTP parser is paused for backpressure
    // (nodejs/undici#5360), which servers that answer with Connection: close trigger.
    let writeError: unknown
    response.body.on('data', (chunk: Buffer) => {
      if (writeError !== undefined) return
      try {
        writeAll(descriptor, chunk)
      } catch (error) {
        writeError = error
        response.body.destroy()
        return
      }

      hash.update(chunk)
      bytes += chunk.length
      sink?.update(bytes)
    })
    try {
      await finished(response.body).catch((error: unknown) => {
        if (writeError === undefined) throw classify(error, bytes, total)
      })
    } finally {
      closeSync(descriptor)
    }

    if (writeError !== undefined) throw cannotWrite(temporary, writeError)

    const md5 = hash.digest('hex')
    if (md5 !== file.md5) {
      // A mirror that serves other bytes will keep doing so: no point retrying it.
      throw new AttemptError('next-mirror', `MD5 mismatch: got ${md5}, expected ${file.md5}`)
    }

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
  for (let offset = 0; offset < chunk.length; ) offset += writeSync(descriptor, chunk, offset)
}

function contentLength(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header
  if (value === undefined || !/^\d+$/.test(value)) return undefined
  return Number(value)
}

async function md5OfExisting(file: string): Promise<{bytes: number; md5: string} | undefined> {
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

/** Undo a mkdir -p that led nowhere, leaving any folder that has content. */
async function removeEmptyFolders(deepest: string, topmost: string): Promise<void> {
  for (let folder = deepest; ; folder = path.dirname(folder)) {
    try {
      await rmdir(folder)
    } catch {
      return
    }

    if (folder === topmost) return
  }
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started) / 1000
}

function formatSeconds(seconds: number): string {
  return `${Number(seconds.toFixed(2))} s`
}
