/**
 * Decodes that fill their worker's heap, `argv[2]` pools side by side, each
 * `argv[3]` times in a row, in a process of its own: a worker that takes the
 * process with it ends this one (V8 aborts), not the test run. Prints each
 * decode's error, one a line.
 */
import {DecodePool} from '../../src/server/decoder.js'
import {manyValuesTiff} from './hostile-images.js'

const [pools, rounds] = process.argv.slice(2).map(Number)
const file = manyValuesTiff(2_000_000)
await Promise.all(
  Array.from({length: pools}, async () => {
    for (let i = 0; i < rounds; i++) {
      const pool = new DecodePool({workers: 1, maxPixels: 40_000_000, heapMb: 48, timeoutMs: 120_000})
      try {
        await pool.decode(file, 'tags.tif', false)
        process.stdout.write('decoded\n')
      } catch (error) {
        process.stdout.write(`${(error as Error).constructor.name}: ${(error as Error).message}\n`)
      } finally {
        await pool.close()
      }
    }
  }),
)
