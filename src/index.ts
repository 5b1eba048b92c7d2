/**
 * The library behind the `digit-classification` command: the same functions
 * the commands, the web app and the tests call.
 */
export * from './config.js'
export {UserError} from './errors.js'
export {loadCuratedDataset, loadTestSplit, computeNormalization, splitTensors, describeSplits} from './data/dataset.js'
export {parseClassCounts, stratifiedSplit, fingerprint} from './data/split.js'
export {readIdxPair, parseIdxImages, parseIdxLabels} from './data/idx.js'
export {Rng} from './data/rng.js'
export {loadCheckpoint, saveCheckpoint, checkpointId} from './model/checkpoint.js'
export {loadPredictor, type Predictor, type Prediction} from './model/predictor.js'
export {runTraining, type TrainRun, type TrainSummary} from './training/run.js'
export {runEvaluation, type EvaluationRun, type EvaluationSummary} from './training/run-evaluation.js'
export {ConfigFileSchema, TrainingConfigSchema, resolveTrainingConfig, resolveRunConfig, type TrainingConfig} from './training/config.js'
export {classificationReport, macroF1} from './evaluation/metrics.js'
export {formatClassificationReport, formatConfusionMatrix} from './evaluation/report.js'
export {rocCurves} from './evaluation/roc.js'
export {preprocessBytes, decodeImage, toMnist, type MnistInput} from './images/preprocess.js'
export {schemas} from './artifacts/schemas.js'
export {exportModel} from './model/export.js'
export {startServer, openStore} from './server/index.js'
