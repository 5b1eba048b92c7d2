/**
 * Text that reaches a terminal: file names, URLs and messages a user (or a
 * file) supplied may hold control characters. Written raw, `ESC]0;…BEL` sets
 * the window title, `\r` overwrites the line, a bidirectional override
 * reorders what is shown. Every user-facing line goes through {@link printable},
 * which shows such characters as escapes (`\x1B`) instead.
 */

/** C0 controls except tab and newline, DEL, C1 controls, and the invisible direction marks and overrides. */
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
const UNPRINTABLE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g

export function printable(text: string): string {
  return text.replaceAll(UNPRINTABLE, (char) => {
    const code = char.charCodeAt(0)
    return code <= 0xff ? `\\x${code.toString(16).toUpperCase().padStart(2, '0')}` : `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`
  })
}

/** A stream that writes through {@link printable}: for progress lines that quote paths. */
export function printableStream<S extends {write(chunk: string): unknown; isTTY?: boolean}>(stream: S): NodeJS.WritableStream & {isTTY?: boolean} {
  return {
    isTTY: stream.isTTY,
    write(chunk: string | Uint8Array) {
      stream.write(printable(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')))
      return true
    },
  } as unknown as NodeJS.WritableStream & {isTTY?: boolean}
}
