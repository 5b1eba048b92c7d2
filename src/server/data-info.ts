import {DEFAULT_CLASS_COUNTS, DIGITS} from '../config.js'
import {mnistFilePath} from '../data/dataset.js'
import {MAX_IDX_BYTES, parseIdxLabels} from '../data/idx.js'
import {type ClassCounts, availableCounts, formatClassCounts, suggestClassCounts} from '../data/split.js'
import {readFileLimited} from '../util/read.js'

export interface DataInfo {
  dir: string
  /** Training images of each digit in the folder; null when there are no MNIST files. */
  classCounts: ClassCounts | null
  /** Class counts the training form should start with for the default classes: the SPEC's subset when the data holds it, else the same proportions scaled down. */
  suggestedClassCounts: string | null
}

/** What the data folder can train on, so the page's training form starts with values that work. */
export async function dataInfo(dir: string): Promise<DataInfo> {
  try {
    const file = mnistFilePath(dir, 'trainLabels')
    const labels = parseIdxLabels(await readFileLimited(file, MAX_IDX_BYTES), file)
    const counts: ClassCounts = availableCounts(labels, DIGITS)
    const suggested = suggestClassCounts(DEFAULT_CLASS_COUNTS, counts)
    return {dir, classCounts: counts, suggestedClassCounts: suggested ? formatClassCounts(suggested) : null}
  } catch {
    return {dir, classCounts: null, suggestedClassCounts: null}
  }
}
