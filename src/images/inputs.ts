/**
 * What `--input-path` values point at, read into bytes: a file, a folder of
 * images, an http(s) URL or `-` for stdin. A bad input becomes an error entry
 * for that input alone; the others are still read.
 */
import {readdir, stat} from 'node:fs/promises'
import path from 'node:path'

import {UserError, errorMessage} from '../errors.js'
import {UnreadableFile, readFileLimited, sizeAgainstLimit} from '../util/read.js'

export const INPUT_DEFAULTS = {
  /** Larger than any sensible photo of a digit, small enough to hold in memory. */
  maxBytes: 20 * 1024 * 1024,
  /** For the whole of one download: connection, headers and body. */
  timeoutMs: 15_000,
} as const

/** The image files a folder contributes, matched case-insensitively. */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.bmp', '.gif', '.tif', '.tiff'] as const

/** Name given to the bytes read from `-`. */
export const STDIN_NAME = 'stdin'

export type Input = {name: string; bytes: Buffer; error?: undefined} | {name: string; bytes?: undefined; error: UserError}

export interface InputOptions {
  /** Where `-` reads from; process.stdin by default. */
  stdin?: NodeJS.ReadableStream & {isTTY?: boolean}
  maxBytes?: number
  timeoutMs?: number
}

/** `size` undefined: the limit was passed while reading, the whole size is unknown. */
function tooLarge(name: string, size: number | undefined, maxBytes: number): UserError {
  return new UserError(`${name}: too large (${sizeAgainstLimit(size, maxBytes)}); shrink the image first`)
}

function failed(name: string, error: unknown): Input {
  return {name, error: error instanceof UserError ? error : new UserError(`${name}: ${errorMessage(error)}`)}
}

function fileError(name: string, error: unknown): UserError {
  if (error instanceof UnreadableFile) {
    if (error.kind === 'not-a-file') return new UserError(`${name}: ${error.reason}; give an image file, or pipe the bytes in with "-"`)
    return new UserError(`${name}: ${error.reason}; shrink the image first`)
  }

  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return new UserError(`${name}: no such file or folder; check the path`)
  if (code === 'EACCES' || code === 'EPERM') return new UserError(`${name}: permission denied; make it readable`)
  return new UserError(`${name}: cannot read it (${errorMessage(error)})`)
}

async function readImageFile(name: string, maxBytes: number): Promise<Input> {
  try {
    // Only regular files, and never more than maxBytes whatever stat says (0 for devices and /proc).
    return {name, bytes: await readFileLimited(name, maxBytes)}
  } catch (error) {
    return failed(name, error instanceof UserError ? error : fileError(name, error))
  }
}

/** Image files directly in `folder`, sorted by name (code-point order, the same everywhere); hidden files skipped. */
async function folderImages(folder: string): Promise<string[]> {
  const entries = await readdir(folder, {withFileTypes: true})
  const names: string[] = []
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue
    if (!(IMAGE_EXTENSIONS as readonly string[]).includes(path.extname(entry.name).toLowerCase())) continue
    const file = path.join(folder, entry.name)
    // Symbolic links count when they lead to a file.
    if (
      entry.isFile() ||
      (entry.isSymbolicLink() &&
        (await stat(file).then(
          (info) => info.isFile(),
          () => false,
        )))
    ) {
      names.push(file)
    }
  }

  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

async function readStream(stream: AsyncIterable<unknown>, name: string, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array)
    total += bytes.length
    if (total > maxBytes) throw tooLarge(name, undefined, maxBytes)
    chunks.push(bytes)
  }

  return Buffer.concat(chunks, total)
}

async function readStdin(stdin: NonNullable<InputOptions['stdin']>, maxBytes: number): Promise<Input> {
  if (stdin.isTTY) {
    return failed(STDIN_NAME, new UserError(`${STDIN_NAME}: nothing is piped in for "-"; pipe an image, e.g. \`< digit.png\``))
  }

  try {
    return {name: STDIN_NAME, bytes: await readStream(stdin, STDIN_NAME, maxBytes)}
  } catch (error) {
    return failed(STDIN_NAME, error)
  }
}

class Timeout extends Error {}

async function fetchUrl(url: string, maxBytes: number, timeoutMs: number): Promise<Input> {
  // undici costs a sixth of a second to import: only inputs with URLs pay for it.
  const {fetch} = await import('undici')
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new Timeout()), timeoutMs)
  try {
    const response = await fetch(url, {signal: controller.signal, redirect: 'follow'})
    if (!response.ok) {
      const status = `${response.status} ${response.statusText}`.trim()
      throw new UserError(`${url}: the server answered HTTP ${status}; check the URL`)
    }

    const length = Number(response.headers.get('content-length') ?? Number.NaN)
    if (length > maxBytes) throw tooLarge(url, length, maxBytes)
    if (response.body === null) return {name: url, bytes: Buffer.alloc(0)}
    return {name: url, bytes: await readStream(response.body, url, maxBytes)}
  } catch (error) {
    if (error instanceof UserError) return failed(url, error)
    if (controller.signal.aborted && controller.signal.reason instanceof Timeout) {
      return failed(url, new UserError(`${url}: no complete answer within ${timeoutMs / 1000} s; check the URL or try again`))
    }

    const cause = (error as {cause?: unknown}).cause
    const detail = cause instanceof Error ? errorMessage(cause) : errorMessage(error)
    return failed(url, new UserError(`${url}: could not download it (${detail}); check the URL and the network`))
  } finally {
    clearTimeout(timer)
    // Stop a body we no longer read (too large, or an error status).
    controller.abort()
  }
}

/**
 * Read each `--input-path` value, in order: a file; a folder (its image files by
 * extension, sorted, not recursing); an http(s) URL (size limit and timeout);
 * `-` for stdin (read once). Each yields one input, or one per image of a folder,
 * with either the bytes or the error that stopped it.
 */
export async function* readInputs(values: readonly string[], options: InputOptions = {}): AsyncGenerator<Input> {
  const maxBytes = options.maxBytes ?? INPUT_DEFAULTS.maxBytes
  const timeoutMs = options.timeoutMs ?? INPUT_DEFAULTS.timeoutMs
  let stdinRead = false
  for (const value of values) {
    if (value === '-') {
      if (stdinRead) {
        yield failed(STDIN_NAME, new UserError(`${STDIN_NAME}: "-" is given more than once, but stdin can be read only once`))
      } else {
        stdinRead = true
        yield await readStdin(options.stdin ?? process.stdin, maxBytes)
      }
    } else if (/^https?:\/\//i.test(value)) {
      yield await fetchUrl(value, maxBytes, timeoutMs)
    } else if (value === '') {
      yield failed(value, new UserError('an input path is empty; give a file, a folder, a URL or "-"'))
    } else {
      let files: string[] | undefined
      try {
        if ((await stat(value)).isDirectory()) files = await folderImages(value)
      } catch (error) {
        yield failed(value, fileError(value, error))
        continue
      }

      if (files === undefined) {
        yield await readImageFile(value, maxBytes)
      } else if (files.length === 0) {
        yield failed(value, new UserError(`${value}: the folder holds no image files (${IMAGE_EXTENSIONS.join(' ')})`))
      } else {
        for (const file of files) yield await readImageFile(file, maxBytes)
      }
    }
  }
}

/** {@link readInputs}, gathered into an array. */
export async function collectInputs(values: readonly string[], options: InputOptions = {}): Promise<Input[]> {
  const inputs: Input[] = []
  for await (const input of readInputs(values, options)) inputs.push(input)
  return inputs
}

/**
 * The bytes of a base64 data URI (`data:image/png;base64,…`). Buffer.from
 * silently skips what is not base64, so a mangled payload would decode to a
 * few stray bytes or none at all, and be reported as an empty or corrupt
 * image: the payload is checked first.
 */
export function dataUriBytes(uri: string, name: string): Buffer {
  const payload = uri.slice(uri.indexOf(',') + 1).replaceAll(/\s+/g, '')
  if (payload === '') throw new UserError(`${name}: the data URI holds no image data after "base64,"; send the image's bytes, base64-encoded`)
  const bad = /[^A-Za-z0-9+/\-_=]|=(?=[^=])/.exec(payload)
  if (bad !== null || payload.length % 4 === 1) {
    const where = bad === null ? 'its length' : `"${bad[0]}" at character ${bad.index + 1}`
    throw new UserError(`${name}: the data URI is not valid base64 (${where}); send the image's bytes, base64-encoded`)
  }

  return Buffer.from(payload, 'base64')
}
