/**
 * The web API speaks snake_case, as the package's files and `--json` outputs
 * do: the server's records keep TypeScript's camelCase, and are spelled
 * snake_case here, at the HTTP boundary, on their way out.
 */

/** A camelCase identifier (`checkpointId`); digits, file names and snake_case keys are left as they are. */
const CAMEL_KEY = /^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)+$/

/** `checkpointId` → `checkpoint_id`, `evalF1Macro` → `eval_f1_macro`. */
export function snakeKey(key: string): string {
  return CAMEL_KEY.test(key) ? key.replaceAll(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`) : key
}

/** A JSON value with every camelCase key of its objects, at any depth, spelled snake_case. */
export function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => snakeKeys(item))
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [snakeKey(key), snakeKeys(item)]))
}
