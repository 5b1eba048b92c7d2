import {Flags} from '@oclif/core'

import {SETTINGS, SETTING_KEYS, type SettingInfo, type SettingKey, defaultText, flagName} from '../training/config.js'
import {numberFlag} from './flags.js'

/** The `train` flags, one per training setting, generated from the configuration schema (src/training/config.ts). */
export function trainingFlags() {
  return Object.fromEntries(SETTING_KEYS.map((key) => [flagName(key), flagOf(key)]))
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
      return Flags.boolean({description})
    }

    case 'string': {
      return info.options ? Flags.string({description, options: [...info.options]}) : Flags.string({description})
    }
  }
}
