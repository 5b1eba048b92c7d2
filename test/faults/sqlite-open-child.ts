/**
 * Child process for the concurrent-start test: for each SQLite file named on a
 * line of stdin, open the prediction log there as `serve` does at start, close
 * it, and answer one line: "ok" or "error <message>".
 */
import {createInterface} from 'node:readline'

import {errorMessage} from '../../src/errors.js'
import {SqliteStore} from '../../src/server/store/sqlite.js'

for await (const file of createInterface({input: process.stdin})) {
  try {
    const store = SqliteStore.open(file)
    await store.close()
    process.stdout.write('ok\n')
  } catch (error) {
    process.stdout.write(`error ${errorMessage(error)}\n`)
  }
}
