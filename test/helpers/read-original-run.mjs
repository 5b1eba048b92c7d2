// A reader written only from the original demo's documented artifact shapes,
// as a dashboard or script made for it would be: it knows nothing of this
// package. Usage: node read-original-run.mjs <run folder>. Prints a summary as
// JSON; exits non-zero with the first key that is missing or malformed.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

const dir = process.argv[2]
const read = (name) => JSON.parse(readFileSync(join(dir, name), 'utf8'))
function need(condition, what) {
  if (!condition) {
    process.stderr.write(`unexpected shape: ${what}\n`)
    process.exit(1)
  }
}

const isNumber = (v) => typeof v === 'number' && Number.isFinite(v)

// loss_curves.json: columnar, one list per series.
const curves = read('loss_curves.json')
need(Array.isArray(curves.epochs) && curves.epochs.length > 0, 'loss_curves.json epochs')
for (const key of ['train_loss', 'train_accuracy', 'val_loss', 'val_accuracy']) {
  need(Array.isArray(curves[key]) && curves[key].length === curves.epochs.length && curves[key].every(isNumber), `loss_curves.json ${key}`)
}

// predictions.json: dataset, split, num_classes, and samples.
const predictions = read('predictions.json')
need(typeof predictions.dataset === 'string', 'predictions.json dataset')
need(typeof predictions.split === 'string', 'predictions.json split')
need(Number.isInteger(predictions.num_classes), 'predictions.json num_classes')
let correct = 0
for (const sample of predictions.samples) {
  for (const key of ['index', 'dataset_index', 'true_label', 'predicted_label']) need(Number.isInteger(sample[key]), `predictions.json samples[].${key}`)
  need(Array.isArray(sample.probabilities) && sample.probabilities.length === predictions.num_classes, 'predictions.json samples[].probabilities')
  need(Math.abs(sample.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-3, 'predictions.json probabilities sum to 1')
  if (sample.true_label === sample.predicted_label) correct++
}

// metrics.json: top-level accuracies and losses, number of epochs.
const metrics = read('metrics.json')
for (const key of ['train_accuracy', 'val_accuracy', 'test_accuracy', 'train_loss', 'val_loss', 'test_loss'])
  need(isNumber(metrics[key]), `metrics.json ${key}`)
need(Number.isInteger(metrics.num_epochs), 'metrics.json num_epochs')

// run_metadata.json.
const meta = read('run_metadata.json')
need(typeof meta.run_name === 'string', 'run_metadata.json run_name')
need(!Number.isNaN(Date.parse(meta.generated_at)), 'run_metadata.json generated_at')
for (const key of ['num_classes', 'num_features', 'train_size', 'val_size', 'test_size'])
  need(Number.isInteger(meta.dataset?.[key]), `run_metadata.json dataset.${key}`)
need(typeof meta.dataset.name === 'string' && Array.isArray(meta.dataset.image_shape), 'run_metadata.json dataset name, image_shape')
for (const key of ['epochs', 'batch_size', 'learning_rate', 'seed']) need(isNumber(meta.training_config?.[key]), `run_metadata.json training_config.${key}`)
need(
  typeof meta.feature_normalization?.method === 'string' && typeof meta.feature_normalization?.stats_source === 'string',
  'run_metadata.json feature_normalization',
)
need(typeof meta.artifacts === 'object' && meta.artifacts !== null, 'run_metadata.json artifacts')

process.stdout.write(
  `${JSON.stringify({
    run_name: meta.run_name,
    epochs: curves.epochs.length,
    num_epochs: metrics.num_epochs,
    test_accuracy: metrics.test_accuracy,
    test_size: meta.dataset.test_size,
    samples: predictions.samples.length,
    accuracy_of_samples: correct / predictions.samples.length,
    learning_rate: meta.training_config.learning_rate,
    stats_source: meta.feature_normalization.stats_source,
  })}\n`,
)
