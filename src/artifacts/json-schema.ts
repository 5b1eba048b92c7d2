import {z} from 'zod'

import {schemas} from './schemas.js'

/** File name of the published JSON Schema of a file: `metrics` → `metrics.schema.json`, `runMetadata` → `run_metadata.schema.json`. */
export function jsonSchemaFileName(name: string): string {
  return `${name.replaceAll(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}.schema.json`
}

/**
 * The JSON Schema documents of `named` zod schemas (every artifact by default;
 * scripts/emit-json-schemas.ts adds the training configuration's config.json),
 * as the text written under schema/ (file name → text).
 */
export function jsonSchemaDocuments(named: Record<string, z.ZodType> = schemas): Map<string, string> {
  const documents = new Map<string, string>()
  for (const [name, schema] of Object.entries(named)) {
    documents.set(jsonSchemaFileName(name), `${JSON.stringify(z.toJSONSchema(schema, {io: 'output'}), null, 2)}\n`)
  }

  return documents
}
