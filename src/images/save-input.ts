/**
 * `predict --save-input DIR`: the 28×28 image each input became, as a PNG
 * named after the input, so a user can see what the model was shown.
 */
import {existsSync} from 'node:fs'
import {mkdir} from 'node:fs/promises'
import {join} from 'node:path'

import {grayPng} from './png.js'
import {writeFileAtomic} from '../util/atomic.js'

/**
 * A file name from an input's name (a path, a URL or "-"): its last segment
 * without the extension, reduced to letters, digits, dot, dash and underscore,
 * never empty nor hidden.
 */
export function savedInputStem(name: string): string {
  const last = name === '-' ? 'stdin' : (name.split(/[/\\]/).filter(Boolean).pop() ?? 'input').replace(/[?#].*$/, '')
  const stem = last
    .replace(/\.[A-Za-z0-9]{1,5}$/, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^[.]+/, '')
    .slice(0, 100)
  return stem === '' ? 'input' : stem
}

/** Writes each input's 28×28 image into one folder, never over a file already there or written earlier in the run. */
export class InputSaver {
  private readonly used = new Set<string>()
  private ready: Promise<unknown> | undefined

  constructor(readonly folder: string) {}

  /** Saves the image; answers the path written. */
  async save(name: string, pixels: Float32Array): Promise<string> {
    this.ready ??= mkdir(this.folder, {recursive: true})
    await this.ready
    const stem = savedInputStem(name)
    let path = join(this.folder, `${stem}.png`)
    // Two inputs with one name (a.png and a.jpg, or a file left from an earlier run) each keep their own file.
    for (let n = 2; this.used.has(path) || existsSync(path); n++) path = join(this.folder, `${stem}-${n}.png`)
    this.used.add(path)
    await writeFileAtomic(path, grayPng(pixels))
    return path
  }
}
