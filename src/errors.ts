/**
 * An error the user can cause and fix (bad setting, missing file, corrupt data,
 * no network). Commands print its message as one line and exit non-zero;
 * anything else is a bug and keeps its stack trace.
 *
 * The message names no front end's controls: `setting` is the key of the
 * setting it is about (a configuration key such as `class_counts`, or
 * `data_dir`), and each front end words it — the command line as its flag, the
 * web page as its field. `code` says what kind of error it is, for scripts and
 * for the page's own words.
 */
export class UserError extends Error {
  readonly exitCode: number
  readonly code: string
  readonly setting: string | undefined

  constructor(message: string, options: {exitCode?: number; cause?: unknown; code?: string; setting?: string} = {}) {
    super(message, {cause: options.cause})
    this.name = 'UserError'
    this.exitCode = options.exitCode ?? 1
    this.setting = options.setting
    this.code = options.code ?? (options.setting === undefined ? 'bad-request' : 'bad-setting')
  }
}

export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError
}

/** The first line of an error's message: what goes inside a one-line UserError. */
export function errorMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0].trim()
}
