import {Flags} from '@oclif/core'

import {SETTINGS, SETTING_KEYS, type SettingInfo, type SettingKey, TEN_DIGIT_DEFAULTS, TrainingConfigSchema, defaultText, flagName} from '../training/config.js'
import {numberFlag} from './flags.js'

/** The `train` flags, one per training setting, generated from the configuration schema (src/training/config.ts). */
export function trainingFlags() {
  return Object.fromEntries(SETTING_KEYS.map((key) => [flagName(key), flagOf(key)]))
}

/** Boolean settings that default to true (always, or for some class set): their flag has a --no- form. */
export function negatable(flag: string): boolean {
  const key = SETTING_KEYS.find((k) => flagName(k) === flag)
  if (key === undefined || SETTINGS[key].flag !== 'boolean') return false
  const classSetDefault: unknown = (TEN_DIGIT_DEFAULTS as Record<string, unknown>)[key]
  return TrainingConfigSchema.shape[key].parse(undefined) === true || classSetDefault === true
}

function flagOf(key: SettingKey) {
  const info: SettingInfo = SETTINGS[key]
  const shown = defaultText(key)
  const description = `${info.help}${shown === undefined ? '' : ` [default: ${shown}]`}${info.resume === 'refuse' ? ' (fixed on --resume)' : ''}`
  switch (info.flag) {
    case 'integer': {
      return Flags.integer({description})
    }

    case 'number': {
      return numberFlag({description})
    }

    case 'boolean': {
      // A setting that is on by default is turned off with --no-<flag>.
      return Flags.boolean({description, allowNo: negatable(flagName(key))})
    }

    case 'string': {
      return info.options ? Flags.option({description, options: info.options})() : Flags.string({description})
    }
  }
}
