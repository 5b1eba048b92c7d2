/**
 * Ctrl-C during `train`: the loop stops before its next batch (checkpoints are
 * only written between epochs, so none is ever cut in half), and the user
 * learns what is saved and the exact command that continues the run.
 */
import {join} from 'node:path'

import {loadCheckpoint} from '../model/checkpoint.js'

/** The reason the trainer's signal carries when the user interrupted it. */
export class TrainingInterrupted extends Error {
  constructor() {
    super('training interrupted')
    this.name = 'TrainingInterrupted'
  }
}

/** Quote a path for a POSIX shell only when it needs it. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`
}

/** What an interrupted run left in `outputDir`, and how to continue it (for stderr). */
export async function interruptionMessage(outputDir: string, dataDir: string, bin = 'digit-classification'): Promise<string> {
  let saved: {epoch: number; epochs: number; bestEpoch: number}
  try {
    const {header} = await loadCheckpoint(join(outputDir, 'last.ckpt'))
    saved = {epoch: header.training.epoch, epochs: Number(header.training.config.epochs), bestEpoch: header.training.bestEpoch}
  } catch {
    return 'interrupted before the first epoch ended: nothing was saved; run the same command again to start over'
  }

  const resume = `${bin} train --data-dir ${shellWord(dataDir)} --output-dir ${shellWord(outputDir)} --resume`
  return `interrupted: last.ckpt holds epoch ${saved.epoch} of ${saved.epochs} (best.ckpt: epoch ${saved.bestEpoch}); continue with: ${resume}`
}
