/**
 * Child process for the crash test: logs predictions to the SQLite file
 * given as argument, one after another without end, and prints the id of
 * each one the store acknowledged. The test kills it with SIGKILL.
 */
import {writeSync} from 'node:fs'

import {SqliteStore} from '../../src/server/store/sqlite.js'
import {thumbnailDataUri} from '../../src/server/thumbnail.js'

const store = SqliteStore.open(process.argv[2])
const thumbnail = thumbnailDataUri(new Float32Array(784).fill(0.25))
for (let n = 0; ; n++) {
  const record = await store.insert({
    thumbnail,
    predicted: 8,
    confidence: 0.5,
    probs: {'0': 0.25, '5': 0.25, '8': 0.5},
    checkpointId: `write-${n}`,
    source: 'upload',
  })
  // Written synchronously: every printed id is one the store had committed before.
  writeSync(1, `${record.id} ${record.checkpointId}\n`)
  // Let the event loop turn now and then, as in a server: queued warnings get printed.
  if (n % 20 === 19) await new Promise((resolve) => setImmediate(resolve))
}
