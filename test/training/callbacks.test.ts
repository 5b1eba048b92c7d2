import {expect} from 'chai'

import {basename} from 'node:path'
import {PassThrough} from 'node:stream'

import {createProgress} from '../../src/cli/progress.js'
import {EarlyStopping, ModelCheckpoint, ProgressReporter, ReduceLROnPlateau, improves} from '../../src/training/callbacks.js'
import type {EpochLog} from '../../src/artifacts/epoch-log.js'
import type {TrainerState} from '../../src/training/trainer.js'

function log(epoch: number, val_f1_macro: number, val_loss = 1): EpochLog {
  return {epoch, train_loss: 1, train_accuracy: 0.5, val_loss, val_balanced_accuracy: 0.5, val_f1_macro, learning_rate: 1e-3, epoch_seconds: 1}
}

/** A loop state whose checkpoint requests are recorded as `file:bestEpoch`. */
function fakeState(saves: string[] = []): TrainerState {
  const module = {
    learningRate: 1e-3,
    trainingStep: () => ({loss: 0, log: {train_loss: 0, train_accuracy: 0}}),
    validationStep: () => ({val_loss: 0, val_balanced_accuracy: 0, val_f1_macro: 0}),
    values: async () => ({}),
    optimizerState: async () => ({}),
  }
  return {
    module,
    maxEpochs: 20,
    epoch: 0,
    history: [],
    shouldStop: false,
    saveCheckpoint: async (file, request) => void saves.push(`${basename(file)}:${request.bestEpoch}`),
  }
}

describe('callbacks', () => {
  it('early stopping stops after 3 epochs without improvement, and not before', () => {
    const state = fakeState()
    const stopper = new EarlyStopping(3)
    const f1s = [0.5, 0.6, 0.6, 0.59, 0.61, 0.6, 0.6]
    const stoppedAt: number[] = []
    for (const [i, f1] of f1s.entries()) {
      stopper.onEpochEnd(state, log(i + 1, f1))
      if (state.shouldStop) stoppedAt.push(i + 1)
    }

    expect(stoppedAt[0]).to.equal(undefined)
    stopper.onEpochEnd(state, log(8, 0.6))
    expect(state.shouldStop).to.equal(true)
    expect(state.stopReason).to.match(/did not improve for 3 epochs \(best 0\.6100\)/)
    const restored = new EarlyStopping(3)
    restored.loadStateDict(stopper.stateDict())
    expect(restored.stateDict()).to.deep.equal({best: {val_f1_macro: 0.61}, wait: 3})
    // Only what is monitored is kept: a saved loss comes back only where it breaks ties.
    const withLoss = {best: {val_f1_macro: 0.61, val_loss: 1}, wait: 2}
    const plain = new EarlyStopping(3)
    plain.loadStateDict(withLoss)
    expect(plain.stateDict()).to.deep.equal({best: {val_f1_macro: 0.61}, wait: 2})
    const withTies = new EarlyStopping(3, 'f1-loss')
    withTies.loadStateDict(withLoss)
    expect(withTies.stateDict()).to.deep.equal(withLoss)
  })

  it('reduce-on-plateau halves the rate after more than 2 bad epochs, like PyTorch', () => {
    const state = fakeState()
    const scheduler = new ReduceLROnPlateau(0.5, 2)
    const rates: number[] = []
    for (const [i, f1] of [0.5, 0.7, 0.7, 0.69, 0.7, 0.7, 0.7, 0.7].entries()) {
      scheduler.onEpochEnd(state, log(i + 1, f1))
      rates.push(state.module.learningRate)
    }

    // Bad epochs 3, 4, 5 → reduced after epoch 5; bad 6, 7, 8 → reduced again after epoch 8.
    expect(rates).to.deep.equal([1e-3, 1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 5e-4, 2.5e-4])
  })

  it('reduce-on-plateau ignores improvements below its relative threshold', () => {
    const state = fakeState()
    const scheduler = new ReduceLROnPlateau(0.5, 0)
    scheduler.onEpochEnd(state, log(1, 0.9))
    scheduler.onEpochEnd(state, log(2, 0.90005))
    expect(state.module.learningRate).to.equal(5e-4)
  })

  it('selection f1-loss breaks ties on a saturated F1 by validation loss, for the best checkpoint and early stopping', async () => {
    // F1 saturates at 1.0 from epoch 2 while the validation loss keeps falling until epoch 5.
    const epochs = [log(1, 0.9, 0.5), log(2, 1, 0.3), log(3, 1, 0.2), log(4, 1, 0.25), log(5, 1, 0.1), log(6, 1, 0.12), log(7, 1, 0.11), log(8, 1, 0.15)]
    const run = async (selection: 'f1' | 'f1-loss' | 'loss') => {
      const saves: string[] = []
      const state = fakeState(saves)
      const checkpoint = new ModelCheckpoint('/nonexistent', selection)
      const stopper = new EarlyStopping(3, selection)
      let stoppedAfter = 0
      for (const epoch of epochs) {
        await checkpoint.onEpochEnd(state, epoch)
        stopper.onEpochEnd(state, epoch)
        if (state.shouldStop) {
          stoppedAfter = epoch.epoch
          break
        }
      }

      // last.ckpt after every epoch, holding the best epoch so far.
      expect(saves.filter((save) => save.startsWith('last.ckpt'))).to.have.length(stoppedAfter)
      const saved = saves.filter((save) => save.startsWith('best.ckpt')).map((save) => Number(save.split(':')[1]))
      return {saved, best: checkpoint.bestEpoch, stoppedAfter, reason: state.stopReason, state: checkpoint.stateDict()}
    }

    const plain = await run('f1')
    expect(plain).to.deep.include({saved: [1, 2], best: 2, stoppedAfter: 5})
    const ties = await run('f1-loss')
    expect(ties).to.deep.include({saved: [1, 2, 3, 5], best: 5, stoppedAfter: 8})
    expect(ties.reason).to.match(/ties: val_loss/)
    expect(await run('loss')).to.deep.include({saved: [1, 2, 3, 5], best: 5, stoppedAfter: 8})
    // A lower F1 with a lower loss: only `loss` prefers it.
    expect(improves('loss', log(2, 0.93, 0.2), {val_f1_macro: 0.95, val_loss: 0.3})).to.equal(true)
    expect(improves('f1-loss', log(2, 0.93, 0.2), {val_f1_macro: 0.95, val_loss: 0.3})).to.equal(false)
    const restored = new ModelCheckpoint('/nonexistent', 'f1-loss')
    restored.loadStateDict(ties.state)
    expect(restored.stateDict()).to.deep.equal({best_epoch: 5, best: {val_f1_macro: 1, val_loss: 0.1}})
  })

  it('progress on a terminal: a bar per epoch with running loss, images per second and ETA; one line per epoch when piped', async () => {
    const run = async (isTTY: boolean) => {
      const stream = Object.assign(new PassThrough(), {isTTY, columns: 120})
      const chunks: string[] = []
      stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString()))
      let clock = 0
      const reporter = new ProgressReporter(
        stream,
        () => clock,
        (bar) => createProgress({...bar, unit: 'items', stream}),
      )
      const state = fakeState()
      reporter.onEpochStart()
      // Four batches of 32 images, 0.5 s each: 64 images/s, losses 0.8, 0.6, 0.4, 0.2.
      for (const [i, loss] of [0.8, 0.6, 0.4, 0.2].entries()) {
        clock += 500
        reporter.onBatchEnd(state, {epoch: 1, batch: i + 1, batches: 4, size: 32, loss})
      }

      reporter.onEpochEnd(state, log(1, 0.9))
      await new Promise((resolve) => setImmediate(resolve))
      return chunks.join('')
    }

    const tty = await run(true)
    expect(tty).to.include('1/4  loss 0.8000  64 img/s  ETA 0:02')
    expect(tty).to.include('4/4  loss 0.5000  64 img/s  ETA 0:00')
    expect(tty).to.match(/val_balanced_accuracy 0\.5000  val_f1_macro 0\.9000/)
    const piped = await run(false)
    expect(piped).to.not.include('img/s')
    expect(piped.trim().split('\n')).to.have.length(1)
  })
})
