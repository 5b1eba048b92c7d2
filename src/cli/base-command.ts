import {Command, Errors} from '@oclif/core'

import {UserError} from '../errors.js'
import {printable} from '../util/printable.js'
import {cliWords} from './words.js'

/** Exit codes of a process ended by a signal, as shells report them. */
export const SIGNAL_EXIT_CODES = {SIGINT: 130, SIGTERM: 143} as const
export type StopSignal = keyof typeof SIGNAL_EXIT_CODES
const STOP_SIGNALS = Object.keys(SIGNAL_EXIT_CODES) as StopSignal[]

/**
 * Shared by every command: an error the user can fix (a UserError, or oclif's
 * own flag-parsing errors) ends as exactly one line on stderr and a non-zero
 * exit code, never a stack trace and never wrapped to the terminal width.
 * Anything else is a bug and keeps oclif's full report. `DEBUG=1` shows stacks.
 *
 * With `--json` (`enableJsonFlag`), what `run` returns is printed on stdout as
 * one JSON document; errors still go to stderr as one line.
 */
export abstract class BaseCommand extends Command {
  /** The signal that stopped the work of {@link whileRunning}, if one did. */
  protected stoppedBy: StopSignal | undefined

  protected override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (error instanceof Errors.ExitError) throw error
    const parseError = error instanceof Errors.CLIError && !(error instanceof UserError)
    if (error instanceof UserError || parseError) {
      if (process.env.DEBUG) process.stderr.write(`${printable(error.stack ?? error.message)}\n`)
      const message = error instanceof UserError ? cliWords(error, oneLine(error.message)) : oneLine(error.message)
      process.stderr.write(`Error: ${printable(message)}\n`)
      this.exit(error instanceof UserError ? error.exitCode : (error.oclif?.exit ?? 2))
    }

    return super.catch(error)
  }

  /** oclif prints `run`'s result this way under --json: the same plain JSON as {@link printJson}, never coloured. */
  override logJson(json: unknown): void {
    this.printJson(json)
  }

  /** Data goes to stdout, as one JSON document. */
  protected printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
  }

  /** Progress and notes go to stderr so stdout stays machine-readable; control characters a path may hold are shown, not obeyed. */
  protected note(message: string): void {
    process.stderr.write(`${printable(message)}\n`)
  }

  /**
   * Run `work` with a signal that Ctrl-C or SIGTERM aborts (with `reason()` as
   * its reason), so the work can stop cleanly and say what it kept; a second
   * Ctrl-C or SIGTERM ends the process at once. {@link stoppedBy} tells which
   * signal it was. The handlers are gone once `work` settles.
   */
  protected async whileRunning<T>(work: (signal: AbortSignal) => Promise<T>, reason?: () => unknown): Promise<T> {
    const controller = new AbortController()
    const onSignal = (signal: StopSignal): void => {
      if (controller.signal.aborted) process.exit(SIGNAL_EXIT_CODES[signal])
      this.stoppedBy = signal
      controller.abort(reason?.())
    }

    for (const signal of STOP_SIGNALS) process.on(signal, onSignal)
    try {
      return await work(controller.signal)
    } finally {
      for (const signal of STOP_SIGNALS) process.off(signal, onSignal)
    }
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
