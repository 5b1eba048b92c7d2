/**
 * Copy the small sample of real MNIST training digits bundled with the
 * package into the data folder, each file verified like a download, and
 * count its digits per class for the summary.
 */
import {copyFile, readFile, rename, rm} from 'node:fs/promises'
import path from 'node:path'

import {DEFAULT_CLASSES, MNIST_FILES} from '../config.js'
import {UserError, errorMessage} from '../errors.js'
import {type DownloadSummary, type DownloadedFile, type ExpectedFile} from './download-settings.js'
import {parseIdxLabels} from './idx.js'
import {elapsed, md5OfExisting} from './mirrors.js'
import {availableCounts} from './split.js'
import {temporaryPathFor} from '../util/atomic.js'
import {beforeRename} from '../util/fault.js'

/**
 * Copy the bundled sample into the folder, each file through a temporary name.
 * Refuses to replace verified MNIST files: the sample is a fallback, not an upgrade.
 */
export async function copySample(sampleDir: string, dataDir: string, files: ExpectedFile[]): Promise<DownloadSummary> {
  const sampleFiles = files.filter((file) => [MNIST_FILES.trainImages.name, MNIST_FILES.trainLabels.name].includes(file.name as never))
  for (const file of sampleFiles) {
    const present = await presentFile(file, dataDir, () => {})
    if (present) {
      throw new UserError(`${dataDir} already holds the verified MNIST file ${present.name}; the sample would replace real data: choose another --data-dir`)
    }
  }

  const results: DownloadedFile[] = []
  for (const file of sampleFiles) {
    const started = performance.now()
    const source = path.join(sampleDir, file.name)
    const target = path.join(dataDir, file.name)
    const temporary = temporaryPathFor(target, 'part')
    try {
      await copyFile(source, temporary)
      beforeRename()
      await rename(temporary, target)
    } catch (error) {
      throw new UserError(`cannot copy the bundled sample ${source} to ${target} (${errorMessage(error)}); check the data folder's permissions`)
    } finally {
      await rm(temporary, {force: true})
    }

    await removeStale(dataDir, file.raw?.name)
    const written = await md5OfExisting(target)
    results.push({
      name: file.name,
      bytes: written!.bytes,
      md5: written!.md5,
      source: 'sample',
      from: sampleDir,
      mirror: null,
      skipped: false,
      seconds: elapsed(started),
    })
  }

  const labels = parseIdxLabels(await readFile(path.join(dataDir, MNIST_FILES.trainLabels.name)), MNIST_FILES.trainLabels.name)
  const available = availableCounts(labels, DEFAULT_CLASSES)
  const perClass: Record<string, number> = {...available}
  return {data_dir: dataDir, files: results, sample: {images: labels.length, per_class: perClass}}
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
