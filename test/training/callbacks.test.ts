import {expect} from 'chai'

import {EarlyStopping, ReduceLROnPlateau} from '../../src/training/callbacks.js'
import type {EpochLog} from '../../src/training/schema.js'
import type {TrainerState} from '../../src/training/trainer.js'

function log(epoch: number, valF1Macro: number): EpochLog {
  return {epoch, trainLoss: 1, trainAccuracy: 0.5, valLoss: 1, valAccuracy: 0.5, valF1Macro, learningRate: 1e-3, epochSeconds: 1}
}

function fakeState(): TrainerState & {module: {learningRate: number}} {
  return {module: {learningRate: 1e-3}, maxEpochs: 20, epoch: 0, history: [], shouldStop: false} as unknown as TrainerState & {module: {learningRate: number}}
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
    expect(restored.stateDict()).to.deep.equal({best: 0.61, wait: 3})
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
})
