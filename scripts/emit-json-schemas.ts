/**
 * Writes the JSON Schema of every run artifact to schema/<name>.schema.json,
 * from the zod schemas in src/artifacts/schemas.ts, and of config.json from
 * src/training/config.ts, and of predict's and POST /api/predict's answers from
 * src/artifacts/answer.ts, and of the other commands' stdout from
 * src/artifacts/outputs.ts. Run after changing a schema:
 *   npx tsx scripts/emit-json-schemas.ts
 * (test/artifacts checks that the committed files match.)
 */
import {mkdir} from 'node:fs/promises'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {ApiPredictionSchema, PredictAnswerSchema} from '../src/artifacts/answer.js'
import {jsonSchemaDocuments} from '../src/artifacts/json-schema.js'
import {outputSchemas} from '../src/artifacts/outputs.js'
import {schemas} from '../src/artifacts/schemas.js'
import {ConfigFileSchema} from '../src/training/config.js'
import {writeFileAtomic} from '../src/util/atomic.js'

const schemaDir = fileURLToPath(new URL('../schema/', import.meta.url))

await mkdir(schemaDir, {recursive: true})
for (const [name, text] of jsonSchemaDocuments({
  ...schemas,
  config: ConfigFileSchema,
  predict: PredictAnswerSchema,
  apiPredict: ApiPredictionSchema,
  ...outputSchemas,
})) {
  await writeFileAtomic(join(schemaDir, name), text)
  process.stderr.write(`wrote schema/${name}\n`)
}
