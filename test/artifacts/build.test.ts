import {expect} from 'chai'

import {buildPredictionRows, buildPredictions, buildTimingStats, buildTrainingDynamics} from '../../src/artifacts/build.js'
import {selectGallerySamples} from '../../src/artifacts/gallery.js'
import {PredictionsSchema, TimingStatsSchema, TrainingDynamicsSchema} from '../../src/artifacts/schemas.js'
import {DEFAULT_CLASSES, MNIST_FILES} from '../../src/config.js'
import {fakeEpochs, fakePredictions} from './run-data.js'

describe('artifact builders', () => {
  it('summarises epoch durations: total, mean, median, min, max and images per second', () => {
    const epochs = fakeEpochs()
      .slice(0, 4)
      .map((e, i) => ({...e, epoch_seconds: [4, 1, 3, 2][i]}))
    const stats = TimingStatsSchema.parse(buildTimingStats(epochs, 3400))
    expect(stats.summary).to.deep.equal({
      epochs: 4,
      images_per_epoch: 3400,
      total_seconds: 10,
      mean_seconds: 2.5,
      median_seconds: 2.5,
      min_seconds: 1,
      max_seconds: 4,
      images_per_second: 1360,
    })
    expect(stats.epochs.map((e) => e.images_per_second)).to.deep.equal([850, 3400, 3400 / 3, 1700])
    expect(buildTimingStats(epochs.slice(0, 3), 10).summary.median_seconds).to.equal(3)
  })

  it('reports no rate, rather than an infinite one, for an epoch too short to time', () => {
    const stats = buildTimingStats([{...fakeEpochs()[0], epoch_seconds: 0}], 100)
    expect(stats.epochs[0].images_per_second).to.equal(null)
    expect(stats.summary.images_per_second).to.equal(null)
    expect(() => buildTimingStats([], 100)).to.throw(RangeError)
  })

  it('lists the epochs where reduce-on-plateau changed the learning rate', () => {
    const dynamics = TrainingDynamicsSchema.parse(buildTrainingDynamics(fakeEpochs()))
    expect(dynamics.epochs).to.have.length(7)
    expect(dynamics.learning_rate_changes).to.deep.equal([{epoch: 5, from: 1e-3, to: 5e-4}])
  })

  it('turns model output into prediction rows: argmax label, dataset index, rounded probabilities', () => {
    const probs = Float32Array.from([0.1, 0.2, 0.7, 0.6, 0.3, 0.1, 0.2, 0.45, 0.35])
    const rows = buildPredictionRows([40, 7, 12], [8, 0, 0], probs, [0, 5, 8])
    expect(rows.map((r) => [r.index, r.dataset_index, r.true_label, r.predicted_label])).to.deep.equal([
      [0, 40, 8, 8],
      [1, 7, 0, 0],
      [2, 12, 0, 5],
    ])
    // float32 0.7 is 0.699999988079071 as a double; six significant digits give the number a reader expects.
    expect(rows[0].probabilities).to.deep.equal([0.1, 0.2, 0.7])
    const document = PredictionsSchema.parse(buildPredictions(rows, [0, 5, 8], 'test'))
    expect(document.dataset_file).to.equal(MNIST_FILES.testImages.name)
    expect(buildPredictions(rows, [0, 5, 8]).dataset_file).to.equal(MNIST_FILES.trainImages.name)
    expect(() => buildPredictionRows([1], [8], [0.5, 0.5], [0, 5, 8])).to.throw(RangeError, /3 probabilities/)
    expect(() => buildPredictionRows([1], [3], [0.2, 0.3, 0.5], [0, 5, 8])).to.throw(RangeError, /label 3/)
  })

  it('picks gallery samples: every mistake first, most confidently wrong leading, then correct ones from each class in turn', () => {
    const predictions = fakePredictions()
    const chosen = selectGallerySamples(predictions)
    expect(chosen).to.have.length(25)
    const confidence = (p: (typeof predictions)[number]) => p.probabilities[DEFAULT_CLASSES.indexOf(p.predicted_label)]
    // The four mistakes (samples 4, 9, 13, 20), by the probability given to the wrong label, highest first.
    expect(chosen.slice(0, 4).map((p) => p.index)).to.deep.equal([4, 13, 20, 9])
    expect(chosen.slice(0, 4).map(confidence)).to.deep.equal(
      chosen
        .slice(0, 4)
        .map(confidence)
        .sort((a, b) => b - a),
    )
    expect(chosen.slice(4).every((p) => p.true_label === p.predicted_label)).to.equal(true)
    // Round-robin over classes: the one correct 5 appears early, not after twenty 8s.
    expect(chosen.slice(4, 7).map((p) => p.true_label)).to.deep.equal([0, 5, 8])
    expect(new Set(chosen.map((p) => p.index)).size).to.equal(25)
    expect(selectGallerySamples(predictions, 2).map((p) => p.index)).to.deep.equal([4, 13])
    expect(selectGallerySamples(predictions.slice(0, 3), 25)).to.have.length(3)
  })
})
