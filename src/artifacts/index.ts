/** Run artifacts and analytics plots (SPEC §5): schemas, builders, plots and writers. */
export * from './build.js'
export {GALLERY_SIZE, GallerySampleSchema, type GallerySample, galleryFromPixels, gallerySpec, plotGallery, selectGallerySamples} from './gallery.js'
export {jsonSchemaDocuments, jsonSchemaFileName} from './json-schema.js'
export {confusionMatrixSpec, plotConfusionMatrix, plotRoc, plotTiming, plotTrainingDynamics, rocSpec, timingSpec, trainingDynamicsSpec} from './plots.js'
export {PLOT_FONT, plotFontFiles, renderVegaLite, svgToPng, vegaLiteToSvg} from './render.js'
export {type EvaluationArtifactInput, RunDataSchema, type RunArtifactOptions, type RunData, evaluationFileName, writeEvaluationArtifacts, writeRunArtifacts} from './run.js'
export * from './schemas.js'
export {describeArtifact, ensureArtifactDir, serializeJsonArtifact, writeArtifactFile, writeJsonArtifact} from './write.js'
