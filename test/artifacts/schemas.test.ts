import {expect} from 'chai'
import {readFile, readdir} from 'node:fs/promises'

import {EpochLogSchema} from '../../src/artifacts/epoch-log.js'
import {ApiPredictionSchema, PredictAnswerSchema} from '../../src/artifacts/answer.js'
import {jsonSchemaDocuments} from '../../src/artifacts/json-schema.js'
import {outputSchemas} from '../../src/artifacts/outputs.js'
import {
  LossCurvesSchema,
  MetricsSchema,
  PredictionSampleSchema as PredictionSchema,
  PredictionsSchema,
  RocCurvesSchema,
  RunMetadataSchema,
  schemas,
} from '../../src/artifacts/schemas.js'
import {ConfigFileSchema} from '../../src/training/config.js'
import {fakePredictions} from './run-data.js'

const schemaDir = new URL('../../schema/', import.meta.url)

describe('artifact schemas', () => {
  it('an epoch log has one spelling: the balanced accuracy is val_balanced_accuracy, never val_accuracy or camelCase', () => {
    const row = {
      epoch: 1,
      train_loss: 0.5,
      train_accuracy: 0.8,
      val_loss: 0.4,
      val_balanced_accuracy: 0.85,
      val_f1_macro: 0.7,
      learning_rate: 0.001,
      epoch_seconds: 1,
    }
    expect(EpochLogSchema.parse(row)).to.deep.equal(row)
    const {val_balanced_accuracy: balanced, ...rest} = row
    expect(EpochLogSchema.safeParse({...rest, val_accuracy: balanced}).success).to.equal(false)
    expect(EpochLogSchema.safeParse({...rest, valBalancedAcc: balanced}).success).to.equal(false)
  })

  it("loss_curves.json has the original's val_accuracy and its own name for it, val_balanced_accuracy", () => {
    const curves = {epochs: [1], train_loss: [0.5], train_accuracy: [0.8], val_loss: [0.4], val_accuracy: [0.85], val_f1_macro: [0.7]}
    expect(LossCurvesSchema.safeParse({schema_version: 1, ...curves}).success).to.equal(false)
    expect(LossCurvesSchema.safeParse({schema_version: 1, ...curves, val_balanced_accuracy: [0.85]}).success).to.equal(true)
  })

  it('are published under schema/ exactly as scripts/emit-json-schemas.ts emits them', async () => {
    const documents = jsonSchemaDocuments({
      ...schemas,
      config: ConfigFileSchema,
      predict: PredictAnswerSchema,
      apiPredict: ApiPredictionSchema,
      ...outputSchemas,
    })
    expect([...documents.keys()].sort()).to.deep.equal([
      'api_predict.schema.json',
      'config.schema.json',
      'download_data_output.schema.json',
      'evaluate_output.schema.json',
      'export_output.schema.json',
      'loss_curves.schema.json',
      'metrics.schema.json',
      'predict.schema.json',
      'predictions.schema.json',
      'reliability.schema.json',
      'roc_curves.schema.json',
      'run_metadata.schema.json',
      'timing_stats.schema.json',
      'train_output.schema.json',
      'training_dynamics.schema.json',
    ])
    expect((await readdir(schemaDir)).sort(), 'no stale schema file').to.deep.equal([...documents.keys()].sort())
    for (const [name, text] of documents) {
      expect(await readFile(new URL(name, schemaDir), 'utf8'), `${name} is stale: run npx tsx scripts/emit-json-schemas.ts`).to.equal(text)
    }
  })

  it('describe config.json as written: every setting required, class counts as an object', () => {
    const config = JSON.parse(jsonSchemaDocuments({config: ConfigFileSchema}).get('config.schema.json') as string)
    expect(config.title).to.equal('config.json')
    expect(config.required).to.include.members(['schema_version', 'seed', 'learning_rate', 'class_counts', 'run_name', 'calibrate'])
    expect(config.additionalProperties).to.equal(false)
    expect(config.properties.class_counts.anyOf.map((option: {type?: string; const?: string}) => option.const ?? option.type)).to.deep.equal(['object', 'all'])
    expect(config.properties.classes).to.deep.include({type: 'array', minItems: 2})
    expect(config.properties.selection.enum).to.deep.equal(['f1', 'f1-loss', 'loss'])
  })

  it('describe the artifacts as JSON Schema: required fields, class enum, titles', () => {
    const predictions = JSON.parse(jsonSchemaDocuments().get('predictions.schema.json') as string)
    expect(predictions.title).to.equal('predictions.json')
    expect(predictions.required).to.include.members(['schema_version', 'dataset', 'split', 'num_classes', 'classes', 'samples'])
    const sample = predictions.properties.samples.items
    expect(sample.required).to.include.members(['index', 'dataset_index', 'true_label', 'predicted_label', 'probabilities'])
    expect(sample.properties.true_label).to.deep.include({type: 'integer', minimum: 0, maximum: 9})
    expect(Object.keys(schemas)).to.deep.equal([
      'metrics',
      'predictions',
      'lossCurves',
      'runMetadata',
      'rocCurves',
      'trainingDynamics',
      'timingStats',
      'reliability',
    ])
  })

  it('reject values a dashboard could not trust', () => {
    const good = fakePredictions()[0]
    expect(PredictionSchema.safeParse(good).success).to.equal(true)
    expect(PredictionSchema.safeParse({...good, probabilities: [2.1, -1.3, 0.2]}).success, 'logits').to.equal(false)
    expect(PredictionSchema.safeParse({...good, probabilities: [0.2, 0.2, 0.2]}).success, 'does not sum to 1').to.equal(false)
    expect(PredictionSchema.safeParse({...good, true_label: 12}).success, 'not a digit').to.equal(false)
    // Against the document's classes: a label it does not list, a vector of another length.
    const document = {schema_version: 1, dataset: 'mnist_058', split: 'eval', num_classes: 3, classes: [0, 5, 8], dataset_file: 'x', samples: [good]}
    expect(PredictionsSchema.safeParse(document).success).to.equal(true)
    expect(PredictionsSchema.safeParse({...document, samples: [{...good, true_label: 3}]}).success, 'not a class').to.equal(false)
    expect(PredictionsSchema.safeParse({...document, samples: [{...good, probabilities: [0.5, 0.5]}]}).success, 'short vector').to.equal(false)
    expect(PredictionsSchema.safeParse({...document, num_classes: 2}).success, 'num_classes').to.equal(false)

    const roc = {schema_version: 1, per_class: [{label: 0, fpr: [0, 1], tpr: [0, 1], thresholds: [2, 0.1], auc: 0.5}], macro_auc: 0.5}
    expect(RocCurvesSchema.safeParse(roc).success).to.equal(true)
    expect(
      RocCurvesSchema.safeParse({...roc, per_class: [{...roc.per_class[0], auc: null, fpr: [], tpr: [], thresholds: []}], macro_auc: null}).success,
    ).to.equal(true)
    expect(RocCurvesSchema.safeParse({...roc, per_class: [{...roc.per_class[0], label: 12}]}).success, 'label').to.equal(false)
    expect(RocCurvesSchema.safeParse({...roc, per_class: [{...roc.per_class[0], thresholds: [1]}]}).success, 'lengths').to.equal(false)

    const metrics = MetricsSchema.safeParse({num_epochs: 3, best_epoch: 4})
    expect(metrics.success).to.equal(false)
    expect(RunMetadataSchema.shape.generated_at.safeParse('yesterday').success).to.equal(false)
    expect(RunMetadataSchema.shape.feature_normalization.safeParse({method: 'standardize', mean: 0.13, std: 0.31, stats_source: 'val'}).success).to.equal(false)
  })
})
