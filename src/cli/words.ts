import type {UserError} from '../errors.js'

/** Settings whose flag is not their key in kebab case. */
const FLAGS: Record<string, string> = {mirrors: 'mirror'}

/** The command-line flag of a setting key: `class_counts` is `--class-counts`. */
export function flagOfSetting(setting: string): string {
  return `--${FLAGS[setting] ?? setting.replaceAll('_', '-')}`
}

/**
 * A library error in the words of the command line. A bad value is prefixed
 * with its flag (`--class-counts: class 3 is given twice`); any other error
 * about a setting ends with the flag that changes it.
 */
export function cliWords(error: UserError, message = error.message): string {
  if (error.setting === undefined) return message
  const flag = flagOfSetting(error.setting)
  if (message.includes(flag)) return message
  return error.code === 'bad-setting' ? `${flag}: ${message}` : `${message} (${flag})`
}
