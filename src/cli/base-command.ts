import {Command} from '@oclif/core'

import {UserError} from '../errors.js'

/**
 * Shared by every command: a user-caused error ends as one line on stderr and a
 * non-zero exit code, never a stack trace. `DEBUG=*` still shows the stack.
 */
export abstract class BaseCommand extends Command {
  protected override async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    if (error instanceof UserError) {
      if (process.env.DEBUG) this.logToStderr(error.stack ?? error.message)
      this.error(error.message, {exit: error.exitCode})
    }

    return super.catch(error)
  }

  /** Data goes to stdout, as one JSON document. */
  protected printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
  }

  /** Progress and notes go to stderr so stdout stays machine-readable. */
  protected note(message: string): void {
    process.stderr.write(`${message}\n`)
  }
}
