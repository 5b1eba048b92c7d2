import {createHash} from 'node:crypto'
import {join} from 'node:path'

import {z} from 'zod'

import {UserError} from '../errors.js'
import {sweepTemporaries, writeFileAtomic} from '../util/atomic.js'
import {makeFolder} from '../util/paths.js'
import type {ArtifactFile} from './schemas.js'

/**
 * Validate `value` against `schema` and return the JSON text (2-space indent,
 * trailing newline) of the parsed value, so unknown keys never reach a file.
 * A mismatch is a bug in the caller, not something a user can fix: it throws
 * a plain Error naming the artifact and every failing path.
 */
export function serializeJsonArtifact<S extends z.ZodType>(name: string, schema: S, value: z.input<S>): string {
  const result = schema.safeParse(value)
  if (!result.success) throw new Error(`${name} does not match its schema:\n${z.prettifyError(result.error)}`)
  return `${JSON.stringify(result.data, null, 2)}\n`
}

export function describeArtifact(name: string, data: string | Uint8Array): ArtifactFile {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data
  return {name, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex')}
}

/** File-system failures a user can fix by choosing another folder or freeing space. */
const USER_FS_ERRORS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'ENOTDIR', 'EEXIST', 'EISDIR'])

function fsErrorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined
}

/** Create the artifact folder; a folder that cannot be created is the user's to fix. */
export async function ensureArtifactDir(dir: string): Promise<void> {
  await makeFolder(dir, 'choose a writable --output-dir')
  await sweepTemporaries(dir)
}

/** Write one artifact atomically into `dir` (which must exist) and describe what was written. */
export async function writeArtifactFile(dir: string, name: string, data: string | Uint8Array): Promise<ArtifactFile> {
  const path = join(dir, name)
  try {
    await writeFileAtomic(path, data)
  } catch (error) {
    if (error instanceof UserError) throw error
    const code = fsErrorCode(error)
    if (code && USER_FS_ERRORS.has(code)) {
      throw new UserError(`cannot write ${path} (${code}); choose a writable --output-dir with free space`, {cause: error})
    }

    throw error
  }

  return describeArtifact(name, data)
}

/** Validate, then write one JSON artifact into `dir` (created if missing). Nothing is written when validation fails. */
export async function writeJsonArtifact<S extends z.ZodType>(dir: string, name: string, schema: S, value: z.input<S>): Promise<ArtifactFile> {
  const text = serializeJsonArtifact(name, schema, value)
  await ensureArtifactDir(dir)
  return writeArtifactFile(dir, name, text)
}
