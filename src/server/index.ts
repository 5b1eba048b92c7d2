/** The web app as a library: start it in-process (tests, embedding) the same way `serve` does. */
export {createApp, type AppContext} from './app.js'
export {ModelSlot, type ModelInfo} from './model.js'
export {RunsFolder, type RunDetail, type RunSummary} from './runs.js'
export {SERVE_DEFAULTS, startServer, type RunningServer, type ServeOptions} from './server.js'
export {openStore, type PredictionRecord, type PredictionStore} from './store/index.js'
export {TrainingManager, type TrainingStatus} from './training.js'
