import {Command, Errors} from '@oclif/core'

import {UserError} from '../errors.js'
import {printable} from '../util/printable.js'

/**
 * Shared by every command: an error the user can fix (a UserError, or oclif's
 * own flag-parsing errors) ends as exactly one line on stderr and a non-zero
 * exit code, never a stack trace and never wrapped to the terminal width.
 * Anything else is a bug and keeps oclif's full report. `DEBUG=1` shows stacks.
 */
export abstract class BaseCommand extends Command {
  protected override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error
    const parseError = error instanceof Errors.CLIError && !(error instanceof UserError)
    if (error instanceof UserError || parseError) {
      if (process.env.DEBUG) process.stderr.write(`${printable(error.stack ?? error.message)}\n`)
      process.stderr.write(`Error: ${printable(oneLine(error.message))}\n`)
      this.exit(error instanceof UserError ? error.exitCode : (error.oclif?.exit ?? 2))
    }

    return super.catch(error)
  }

  /** Data goes to stdout, as one JSON document. */
  protected printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
  }

  /** Progress and notes go to stderr so stdout stays machine-readable; control characters a path may hold are shown, not obeyed. */
  protected note(message: string): void {
    process.stderr.write(`${printable(message)}\n`)
  }
}

/** oclif's parse errors span lines ("Missing required flag x\nSee more help with --help"). */
function oneLine(message: string): string {
  return message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !/^The following errors? occurred:$/.test(line))
    .join('; ')
}
