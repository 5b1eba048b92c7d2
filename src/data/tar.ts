/**
 * A streaming reader of tar archives (ustar, with pax and GNU long names), just
 * enough for npm package tarballs: each entry's bytes go to a sink as they
 * arrive, so a 47 MB member never sits in memory. Entry paths are reported,
 * never used to write anywhere: the caller decides where bytes go.
 */

const BLOCK = 512

export interface TarEntry {
  /** Path inside the archive, e.g. `package/data/train-labels-idx1-ubyte`. */
  path: string
  size: number
  /** Regular file, or anything else (folder, link, device…). */
  type: 'file' | 'other'
}

/** Receives one entry's bytes, in order; `end` once they are all there. */
export interface EntrySink {
  write(chunk: Buffer): void
  end(): void
}

/** The archive is damaged or cut short; the message says how. */
export class TarError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'TarError'
  }
}

type State =
  | {kind: 'header'}
  | {kind: 'body'; entry: TarEntry; remaining: number; padding: number; sink: EntrySink | undefined; meta: Buffer[] | undefined; metaKind: string}
  | {kind: 'padding'; remaining: number}
  | {kind: 'end'}

/**
 * Read a tar stream (already gunzipped). For each entry `open(entry)` returns
 * a sink for its bytes, or undefined to skip them. Rejects with a TarError when
 * the archive is not tar, is corrupt, or ends inside an entry.
 */
export async function readTar(chunks: AsyncIterable<Buffer>, open: (entry: TarEntry) => EntrySink | undefined): Promise<void> {
  let state: State = {kind: 'header'}
  let carry = Buffer.alloc(0)
  // Overrides from a pax header or a GNU long-name entry, for the next entry only.
  let nextPath: string | undefined
  let nextSize: number | undefined

  for await (const chunk of chunks) {
    let offset = 0
    while (offset < chunk.length && state.kind !== 'end') {
      if (state.kind === 'header') {
        const needed = BLOCK - carry.length
        if (chunk.length - offset < needed) {
          carry = Buffer.concat([carry, chunk.subarray(offset)])
          break
        }

        const header = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(offset, offset + needed)]) : chunk.subarray(offset, offset + BLOCK)
        carry = Buffer.alloc(0)
        offset += needed
        if (header.every((byte) => byte === 0)) {
          // The end-of-archive marker (two zero blocks; one is enough to stop).
          state = {kind: 'end'}
          break
        }

        const parsed = parseHeader(header)
        const entry: TarEntry = {
          path: nextPath ?? parsed.path,
          size: nextSize ?? parsed.size,
          type: parsed.typeflag === '0' || parsed.typeflag === '\0' || parsed.typeflag === '7' ? 'file' : 'other',
        }
        const metaKind = parsed.typeflag === 'x' || parsed.typeflag === 'L' ? parsed.typeflag : ''
        // A global pax header ('g') is skipped like any other entry and overrides nothing here.
        if (metaKind === '') {
          nextPath = undefined
          nextSize = undefined
        }

        const size = metaKind === '' ? entry.size : parsed.size
        const sink = metaKind === '' ? open(entry) : undefined
        state = {kind: 'body', entry, remaining: size, padding: (BLOCK - (size % BLOCK)) % BLOCK, sink, meta: metaKind ? [] : undefined, metaKind}
        if (size === 0) state = finishBody(state)
        continue
      }

      if (state.kind === 'body') {
        const take = Math.min(state.remaining, chunk.length - offset)
        const piece = chunk.subarray(offset, offset + take)
        state.sink?.write(piece)
        state.meta?.push(Buffer.from(piece))
        state.remaining -= take
        offset += take
        if (state.remaining === 0) {
          if (state.metaKind === 'x') {
            const pax = parsePax(Buffer.concat(state.meta ?? []))
            nextPath = pax.path ?? nextPath
            nextSize = pax.size ?? nextSize
          }

          if (state.metaKind === 'L') nextPath = cString(Buffer.concat(state.meta ?? []))
          state = finishBody(state)
        }

        continue
      }

      if (state.kind === 'padding') {
        const skip = Math.min(state.remaining, chunk.length - offset)
        state.remaining -= skip
        offset += skip
        if (state.remaining === 0) state = {kind: 'header'}
      }
    }
  }

  if (state.kind === 'body') throw new TarError(`the archive ends inside ${state.entry.path} (${state.remaining} of ${state.entry.size} bytes missing)`)
  if (state.kind === 'header' && carry.length > 0) throw new TarError('the archive ends inside an entry header')
}

function finishBody(state: Extract<State, {kind: 'body'}>): State {
  state.sink?.end()
  return state.padding > 0 ? {kind: 'padding', remaining: state.padding} : {kind: 'header'}
}

function parseHeader(header: Buffer): {path: string; size: number; typeflag: string} {
  // The checksum treats its own 8 bytes as spaces.
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]
  const stored = parseOctal(header.subarray(148, 156))
  if (stored !== sum) throw new TarError('not a tar archive, or a damaged one (an entry header fails its checksum)')

  const name = cString(header.subarray(0, 100))
  const prefix = header.subarray(257, 262).toString('latin1') === 'ustar' ? cString(header.subarray(345, 500)) : ''
  return {
    path: prefix ? `${prefix}/${name}` : name,
    size: parseSize(header.subarray(124, 136)),
    typeflag: String.fromCharCode(header[156]),
  }
}

function parseSize(field: Buffer): number {
  // GNU base-256 for sizes of 8 GiB and more: high bit set, big-endian binary.
  if (field[0] & 0x80) {
    let value = field[0] & 0x7f
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]
    return value
  }

  return parseOctal(field)
}

function parseOctal(field: Buffer): number {
  const text = cString(field).trim()
  if (!/^[0-7]*$/.test(text)) throw new TarError('not a tar archive, or a damaged one (a numeric header field is not octal)')
  return text === '' ? 0 : Number.parseInt(text, 8)
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0)
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8')
}

/** Pax extended header records: `<length> <key>=<value>\n`. */
function parsePax(bytes: Buffer): {path?: string; size?: number} {
  const result: {path?: string; size?: number} = {}
  let offset = 0
  while (offset < bytes.length) {
    const space = bytes.indexOf(0x20, offset)
    if (space === -1) break
    const length = Number.parseInt(bytes.subarray(offset, space).toString('latin1'), 10)
    if (!(length > 0) || offset + length > bytes.length) throw new TarError('a pax extended header is damaged')
    const record = bytes.subarray(space + 1, offset + length - 1).toString('utf8')
    const equals = record.indexOf('=')
    const key = record.slice(0, equals)
    const value = record.slice(equals + 1)
    if (key === 'path') result.path = value
    if (key === 'size' && /^\d+$/.test(value)) result.size = Number(value)
    offset += length
  }

  return result
}
