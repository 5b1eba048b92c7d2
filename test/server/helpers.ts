import {randomBytes} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import pg from 'pg'

/** A fresh folder under the system temp dir, removed by the returned function. */
export async function tempDir(prefix = 'digit-server-'): Promise<{dir: string; remove(): Promise<void>}> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  return {dir, remove: () => rm(dir, {recursive: true, force: true})}
}

/**
 * The PostgreSQL test database (TEST_DATABASE_URL, exported by .ci/services.sh).
 * Outside CI its absence skips the PostgreSQL tests with a note; in CI it is a failure.
 */
export function postgresUrl(context: Mocha.Context): string {
  const url = process.env.TEST_DATABASE_URL
  if (url) return url
  if (process.env.CI) throw new Error('TEST_DATABASE_URL is not set in CI: .ci/services.sh should have started PostgreSQL and exported it')
  process.stderr.write('    (skipping PostgreSQL tests: set TEST_DATABASE_URL, e.g. by sourcing .ci/services.sh)\n')
  context.skip()
}

/**
 * A schema of its own in the test database, so each run starts from an empty
 * database (migrations included) and leaves nothing behind.
 */
export async function isolatedSchema(url: string): Promise<{url: string; drop(): Promise<void>}> {
  const schema = `test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({connectionString: url})
  await admin.connect()
  await admin.query(`CREATE SCHEMA ${schema}`)
  await admin.end()
  const withPath = new URL(url)
  withPath.searchParams.set('options', `-c search_path=${schema}`)
  return {
    url: withPath.toString(),
    async drop() {
      const client = new pg.Client({connectionString: url})
      await client.connect()
      await client.query(`DROP SCHEMA ${schema} CASCADE`)
      await client.end()
    },
  }
}
