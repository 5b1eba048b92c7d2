/**
 * The prediction log's schema history. Both stores run this one list, in
 * order, each step once, recorded in `schema_migrations`; a step is never
 * edited after release, a change is a new step. Where the dialects differ
 * (identity columns, timestamps) a step spells each one.
 */
export interface Migration {
  version: number
  name: string
  sqlite: string
  postgres: string
}

export const MIGRATIONS_TABLE = 'schema_migrations'

/** DDL of the bookkeeping table itself (the same in both dialects). */
export const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at TEXT NOT NULL
)`

const sameInBoth = (sql: string) => ({sqlite: sql, postgres: sql})

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create predictions',
    sqlite: `CREATE TABLE predictions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at TEXT NOT NULL,
  thumbnail TEXT NOT NULL,
  predicted INTEGER NOT NULL,
  confidence REAL NOT NULL,
  probs TEXT NOT NULL,
  checkpoint_id TEXT NOT NULL,
  source TEXT NOT NULL,
  feedback INTEGER,
  feedback_at TEXT
)`,
    postgres: `CREATE TABLE predictions (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  created_at TIMESTAMPTZ NOT NULL,
  thumbnail TEXT NOT NULL,
  predicted INTEGER NOT NULL,
  confidence DOUBLE PRECISION NOT NULL,
  probs TEXT NOT NULL,
  checkpoint_id TEXT NOT NULL,
  source TEXT NOT NULL,
  feedback INTEGER,
  feedback_at TIMESTAMPTZ
)`,
  },
  {
    version: 2,
    name: 'index history filters',
    // The history page filters by predicted label and feedback, newest first.
    ...sameInBoth(`CREATE INDEX predictions_predicted ON predictions (predicted, id);
CREATE INDEX predictions_feedback ON predictions (feedback, id)`),
  },
  {
    version: 3,
    name: 'answers that did not know, feedback other',
    // Whether the answer took the image as one of its model's digits, and why not; rows logged before stay null
    // ("not said"). Feedback "other" needs no column: the feedback column stores it as -1 (OTHER_FEEDBACK_CODE).
    sqlite: `ALTER TABLE predictions ADD COLUMN known INTEGER;
ALTER TABLE predictions ADD COLUMN reason TEXT`,
    postgres: `ALTER TABLE predictions ADD COLUMN known BOOLEAN;
ALTER TABLE predictions ADD COLUMN reason TEXT`,
  },
]

/** Migrations not yet applied, in order. */
export function pending(applied: Iterable<number>): Migration[] {
  const done = new Set(applied)
  return MIGRATIONS.filter((migration) => !done.has(migration.version))
}
