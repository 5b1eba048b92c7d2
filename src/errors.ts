/**
 * An error the user can cause and fix (bad flag, missing file, corrupt data,
 * no network). Commands print its message as one line and exit non-zero;
 * anything else is a bug and keeps its stack trace.
 */
export class UserError extends Error {
  readonly exitCode: number

  constructor(message: string, options: {exitCode?: number; cause?: unknown} = {}) {
    super(message, {cause: options.cause})
    this.name = 'UserError'
    this.exitCode = options.exitCode ?? 1
  }
}

export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError
}

/** The first line of an error's message: what goes inside a one-line UserError. */
export function errorMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0].trim()
}
