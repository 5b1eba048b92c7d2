import {z} from 'zod'

import {type ArtifactSchemaName, schemas} from './schemas.js'

/** File name of the published JSON Schema of an artifact: `metrics` → `metrics.schema.json`. */
export function jsonSchemaFileName(name: ArtifactSchemaName): string {
  return `${name.replaceAll(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}.schema.json`
}

/** The JSON Schema documents of every artifact, as the text written under schema/ (file name → text). */
export function jsonSchemaDocuments(): Map<string, string> {
  const documents = new Map<string, string>()
  for (const [name, schema] of Object.entries(schemas) as [ArtifactSchemaName, z.ZodType][]) {
    documents.set(jsonSchemaFileName(name), `${JSON.stringify(z.toJSONSchema(schema), null, 2)}\n`)
  }

  return documents
}
