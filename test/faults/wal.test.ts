/**
 * The SQLite prediction log under load: while a reader holds an old snapshot
 * the write-ahead log cannot be checkpointed and grows; once the reader is
 * gone, the next checkpoint must bring the file back down, not leave it at its
 * peak for ever (the battery saw 172 MB of WAL beside an 8 MB database).
 */
import {expect} from 'chai'
import {existsSync, mkdtempSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {nodeSqlite} from '../../src/server/store/node-sqlite.js'
import {SqliteStore} from '../../src/server/store/sqlite.js'

const walSize = (file: string) => (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0)

describe('faults: SQLite write-ahead log growth', function () {
  this.timeout(120_000)

  it('shrinks the WAL back to its limit once a long reader lets go', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'faults-wal-')), 'predictions.sqlite')
    const store = SqliteStore.open(file)
    // 48 KiB rows: large thumbnails make the log grow quickly.
    const row = {
      thumbnail: `data:image/png;base64,${'A'.repeat(48 * 1024)}`,
      predicted: 8 as const,
      confidence: 0.9,
      probs: {'0': 0.05, '5': 0.05, '8': 0.9},
      checkpointId: 'abc123def456',
      source: 'canvas' as const,
    }
    const {DatabaseSync} = nodeSqlite()
    const reader = new DatabaseSync(file)
    try {
      reader.exec('BEGIN')
      reader.prepare('SELECT COUNT(*) FROM predictions').get()
      for (let i = 0; i < 400; i++) await store.insert(row)
      const peak = walSize(file)
      expect(peak).to.be.above(16 * 1024 * 1024)
      reader.exec('COMMIT')
      reader.close()
      for (let i = 0; i < 200; i++) await store.insert(row)
      expect(walSize(file)).to.be.below(peak / 2)
    } finally {
      if (reader.isOpen) reader.close()
      await store.close()
    }
  })
})
