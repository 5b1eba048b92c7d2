/**
 * The runs folder as the dashboard sees it: every sub-folder holding a run's
 * files. Files are read defensively (a run may be half-written, from an older
 * version, or hand-edited): each one is checked against its schema, and what
 * does not parse is reported as a problem instead of failing the page.
 */
import {readdir, realpath, stat} from 'node:fs/promises'
import {join, sep} from 'node:path'

import {z} from 'zod'

import {ARTIFACT_FILES, type LossCurves, LossCurvesSchema, type Metrics, MetricsSchema, type RunMetadata, RunMetadataSchema} from '../artifacts/schemas.js'
import {errorMessage} from '../errors.js'
import {EpochLogSchema} from '../artifacts/epoch-log.js'
import {buildLossCurves} from '../artifacts/build.js'
import {UnreadableFile, readFileLimited} from '../util/read.js'

export const CHECKPOINT_FILE = 'best.ckpt'
/** Written into a run's folder when it was cancelled: the run is shown as cancelled, and its name may be used again. */
export const CANCELLED_FILE = 'cancelled.json'
/** The run's settings, written before its first epoch: a folder holding only this is a run that stopped early. */
const CONFIG_FILE = 'config.json'
/** The trainer's own per-epoch log: curves of a run that has not written its artifacts (yet). */
const EPOCH_LOG_FILE = join('logs', 'metrics.json')

/** Images a run may have, by the name used in URLs. */
export const RUN_IMAGES = Object.values(ARTIFACT_FILES).filter((name) => name.endsWith('.png'))

/** Run names are single folder names: no separators, no dot-dot, no hidden folders. */
export const RUN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/

/** Files whose presence makes a folder a run. */
const RUN_MARKERS = [
  ARTIFACT_FILES.metrics,
  ARTIFACT_FILES.runMetadata,
  ARTIFACT_FILES.lossCurves,
  CHECKPOINT_FILE,
  EPOCH_LOG_FILE,
  CONFIG_FILE,
  CANCELLED_FILE,
]

/** What the dashboard reads of config.json: the model and the digits the run learns. */
const RunConfigSchema = z.looseObject({model: z.string().optional(), class_counts: z.record(z.string(), z.unknown()).optional()})

export interface FileProblem {
  file: string
  problem: string
}

export interface RunSummary {
  name: string
  /** The run's own name (run_metadata.json), which may differ from its folder's. */
  runName: string
  /** metrics.json is there: the run finished and exported its results. */
  complete: boolean
  /** The run was cancelled before it finished. */
  cancelled: boolean
  /** The model the run trains (cnn, softmax), when its settings say. */
  model: string | null
  /** The digits the run's model tells apart. */
  classes: number[] | null
  modifiedAt: string
  hasCheckpoint: boolean
  epochs: number | null
  bestEpoch: number | null
  evalAccuracy: number | null
  evalF1Macro: number | null
  problems: number
}

export interface RunDetail {
  name: string
  modifiedAt: string
  metrics: Metrics | null
  lossCurves: LossCurves | null
  /** Where the curves came from: the exported artifact, or the trainer's per-epoch log. */
  lossCurvesSource: 'loss_curves.json' | 'logs/metrics.json' | null
  metadata: RunMetadata | null
  cancelled: boolean
  model: string | null
  classes: number[] | null
  /** URLs of the images present, by file name. */
  images: Record<string, string>
  checkpoint: {file: string; bytes: number} | null
  problems: FileProblem[]
}

type Read<T> = {value: T | null; problem?: FileProblem}

/** A run's JSON files are kilobytes (an epoch log of thousands of epochs, a few MiB); beyond this, a problem. */
export const MAX_RUN_JSON_BYTES = 16 * 1024 * 1024
/** The largest run image served (the PNGs a run writes are tens of kilobytes). */
export const MAX_RUN_IMAGE_BYTES = 32 * 1024 * 1024

async function readJson<S extends z.ZodType>(dir: string, file: string, schema: S): Promise<Read<z.infer<S>>> {
  let text: string
  try {
    // Bounded and regular files only: a FIFO or /dev/zero in a run folder must not hang the dashboard.
    text = (await readFileLimited(join(dir, file), MAX_RUN_JSON_BYTES)).toString('utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {value: null}
    const reason = error instanceof UnreadableFile ? error.reason : errorMessage(error)
    return {value: null, problem: {file, problem: `cannot read: ${reason}`}}
  }

  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    return {value: null, problem: {file, problem: 'not valid JSON (is it still being written?)'}}
  }

  const parsed = schema.safeParse(data)
  if (parsed.success) return {value: parsed.data}
  const issue = parsed.error.issues[0]
  return {value: null, problem: {file, problem: `unexpected shape at "${issue.path.join('.') || '(root)'}": ${issue.message}`}}
}

async function exists(path: string): Promise<{bytes: number; mtime: Date} | undefined> {
  try {
    const info = await stat(path)
    return info.isFile() ? {bytes: info.size, mtime: info.mtime} : undefined
  } catch {
    return undefined
  }
}

/** Reads runs inside one folder; every path it opens is checked to stay inside. */
export class RunsFolder {
  constructor(readonly root: string) {}

  /**
   * The folder of a run, or undefined when the name is not a run here: bad
   * characters, traversal, a symlink leading outside, or no run files.
   */
  async resolve(name: string): Promise<string | undefined> {
    if (!RUN_NAME_PATTERN.test(name)) return undefined
    let root: string
    let dir: string
    try {
      root = await realpath(this.root)
      dir = await realpath(join(root, name))
    } catch {
      return undefined
    }

    if (!dir.startsWith(root + sep)) return undefined
    const markers = await Promise.all(RUN_MARKERS.map((file) => exists(join(dir, file))))
    return markers.some(Boolean) ? dir : undefined
  }

  async list(): Promise<RunSummary[]> {
    let entries: string[]
    try {
      entries = (await readdir(this.root, {withFileTypes: true})).filter((entry) => entry.isDirectory() || entry.isSymbolicLink()).map((entry) => entry.name)
    } catch {
      // No runs folder yet: nothing trained.
      return []
    }

    const runs = await Promise.all(entries.map((name) => this.summary(name)))
    return runs.filter((run): run is RunSummary => run !== undefined).sort((a, b) => b.modifiedAt.localeCompare(a.modifiedAt) || a.name.localeCompare(b.name))
  }

  private async summary(name: string): Promise<RunSummary | undefined> {
    const detail = await this.detail(name)
    if (!detail) return undefined
    const evalSplit = detail.metrics?.splits.eval
    return {
      name,
      runName: detail.metadata?.run_name ?? name,
      complete: detail.metrics !== null,
      cancelled: detail.cancelled,
      model: detail.model,
      classes: detail.classes,
      modifiedAt: detail.modifiedAt,
      hasCheckpoint: detail.checkpoint !== null,
      epochs: detail.metrics?.num_epochs ?? detail.lossCurves?.epochs.length ?? null,
      bestEpoch: detail.metrics?.best_epoch ?? null,
      evalAccuracy: evalSplit?.accuracy ?? null,
      evalF1Macro: evalSplit?.f1_macro ?? null,
      problems: detail.problems.length,
    }
  }

  async detail(name: string): Promise<RunDetail | undefined> {
    const dir = await this.resolve(name)
    if (!dir) return undefined
    const [metrics, curves, epochLog, metadata, config, cancelled, checkpoint, ...images] = await Promise.all([
      readJson(dir, ARTIFACT_FILES.metrics, MetricsSchema),
      readJson(dir, ARTIFACT_FILES.lossCurves, LossCurvesSchema),
      readJson(dir, EPOCH_LOG_FILE, z.array(EpochLogSchema).min(1)),
      readJson(dir, ARTIFACT_FILES.runMetadata, RunMetadataSchema),
      readJson(dir, CONFIG_FILE, RunConfigSchema),
      exists(join(dir, CANCELLED_FILE)),
      exists(join(dir, CHECKPOINT_FILE)),
      ...RUN_IMAGES.map((file) => exists(join(dir, file))),
    ])
    const rows = epochLog.value
    // The trainer's log in loss_curves.json's shape, built as the run will build that file.
    const fromLog: LossCurves | null = rows && buildLossCurves(rows)
    const presentImages = RUN_IMAGES.filter((_, i) => images[i] !== undefined)
    const times = [checkpoint, ...images].filter((file) => file !== undefined).map((file) => file.mtime.getTime())
    const folderTime = (await stat(dir)).mtime.getTime()
    return {
      name,
      modifiedAt: new Date(Math.max(folderTime, ...times)).toISOString(),
      metrics: metrics.value,
      lossCurves: curves.value ?? fromLog,
      lossCurvesSource: curves.value ? 'loss_curves.json' : fromLog ? 'logs/metrics.json' : null,
      metadata: metadata.value,
      cancelled: cancelled !== undefined && metrics.value === null,
      model: config.value?.model ?? null,
      classes:
        metrics.value?.classes ??
        metadata.value?.dataset.classes ??
        (config.value?.class_counts
          ? Object.keys(config.value.class_counts)
              .map(Number)
              .sort((a, b) => a - b)
          : null),
      images: Object.fromEntries(presentImages.map((file) => [file, `/api/runs/${encodeURIComponent(name)}/files/${file}`])),
      checkpoint: checkpoint ? {file: CHECKPOINT_FILE, bytes: checkpoint.bytes} : null,
      // The epoch log only matters when it stands in for missing curves.
      problems: [metrics, curves, curves.value ? undefined : epochLog, metadata].flatMap((read) => (read?.problem ? [read.problem] : [])),
    }
  }

  /** The bytes of one of a run's images, or undefined (unknown run, not an image name, missing, not a regular file, too large). */
  async image(name: string, file: string): Promise<Buffer | undefined> {
    if (!RUN_IMAGES.includes(file as (typeof RUN_IMAGES)[number])) return undefined
    const path = await this.fileInside(name, file)
    if (!path) return undefined
    try {
      return await readFileLimited(path, MAX_RUN_IMAGE_BYTES)
    } catch {
      return undefined
    }
  }

  /** Path of a run's best checkpoint, when it has one. */
  async checkpoint(name: string): Promise<string | undefined> {
    return this.fileInside(name, CHECKPOINT_FILE)
  }

  /** A regular file of the run whose real path (symlinks followed) is still inside the run's folder. */
  private async fileInside(name: string, file: string): Promise<string | undefined> {
    const dir = await this.resolve(name)
    if (!dir) return undefined
    try {
      const path = await realpath(join(dir, file))
      return path.startsWith(dir + sep) && (await exists(path)) ? path : undefined
    } catch {
      return undefined
    }
  }
}
