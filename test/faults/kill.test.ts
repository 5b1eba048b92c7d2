/**
 * kill -9 at every atomic rename (DIGIT_FAULT_KILL_AT=rename:N, a documented
 * test hook in src/util/fault.ts) and at seeded random moments, during train,
 * export and a download from a local HTTP server. After each kill: everything
 * on disk loads; the next run finishes the work; no temporary file survives a
 * finished run.
 */
import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {spawn} from 'node:child_process'
import {existsSync, readFileSync, readdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {MNIST_FILES} from '../../src/config.js'
import {decodeCheckpoint, encodeCheckpoint, loadCheckpoint} from '../../src/model/checkpoint.js'
import {FIXTURE_DIR, ROOT} from '../helpers/fixtures.js'
import {startTestServer} from '../helpers/http-server.js'
import {SMALL_COUNTS, type Spawned, run, seededRandom, sharedRun, tempDir, temporaries} from './helpers.js'

/** Counted by the suite and printed at the end, for whoever reads the log. */
const tally = {cases: 0, kills: 0}

function wasKilled(result: Spawned): boolean {
  return result.signal === 'SIGKILL'
}

/** Every checkpoint loads and every JSON file parses: a kill never leaves half a file under a real name. */
async function assertLoadable(dir: string): Promise<void> {
  for (const name of readdirSync(dir, {recursive: true}) as string[]) {
    if (name.endsWith('.ckpt')) await loadCheckpoint(join(dir, name))
    if (name.endsWith('.json')) JSON.parse(readFileSync(join(dir, name), 'utf8'))
  }
}

describe('faults: kill -9 during train, export and download', function () {
  this.timeout(300_000)
  after(() => process.stderr.write(`      fault cases: ${tally.cases}, kills: ${tally.kills}\n`))

  describe('train', () => {
    /** Two epochs unless `epochs:N` comes first in `extra`. */
    const trainArgs = (out: string, ...extra: string[]) => {
      const epochs = extra[0]?.startsWith('epochs:') ? extra.shift()!.slice('epochs:'.length) : '2'
      return ['train', '--data-dir', FIXTURE_DIR, '--output-dir', out, '--epochs', epochs, '--class-counts', SMALL_COUNTS, '--num-workers', '1', ...extra]
    }

    /** After a kill: what is there loads, and one more run (resume if there is a last.ckpt) completes the run. */
    async function recoverAndCheck(out: string, epochs = 2): Promise<void> {
      await assertLoadable(out)
      const resume = existsSync(join(out, 'last.ckpt'))
      const next = await run(trainArgs(out, `epochs:${epochs}`, resume ? '--resume' : '--force'))
      expect(next.code, next.stderr).to.equal(0)
      const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'))
      const last = await loadCheckpoint(join(out, 'last.ckpt'))
      expect(metrics.num_epochs).to.equal(last.header.training.epoch)
      expect(JSON.parse(readFileSync(join(out, 'logs', 'metrics.json'), 'utf8'))).to.have.length(last.header.training.epoch)
      expect(last.header.training.epoch === epochs || last.header.training.stopReason !== null).to.equal(true)
      for (const file of ['best.ckpt', 'run_metadata.json', 'predictions.json', 'gallery.png', 'config.json'])
        expect(existsSync(join(out, file)), file).to.equal(true)
      expect(temporaries(out)).to.deep.equal([])
    }

    it('at every rename of a one-epoch run (two cases at a time, one per core)', async () => {
      // One epoch: every kill after it lands in the end-of-run work that --resume must complete.
      let renames = Number.POSITIVE_INFINITY
      const one = async (n: number) => {
        const out = tempDir(`train-rename${n}`)
        const result = await run(trainArgs(out, 'epochs:1'), {env: {DIGIT_FAULT_KILL_AT: `rename:${n}`}})
        tally.cases++
        if (!wasKilled(result)) {
          // Past the last rename: the run simply finished.
          expect(result.code, result.stderr).to.equal(0)
          expect(temporaries(out)).to.deep.equal([])
          renames = Math.min(renames, n - 1)
          return
        }

        tally.kills++
        await recoverAndCheck(out, 1)
      }

      for (let n = 1; n <= renames; n += 2) await Promise.all([one(n), one(n + 1)])
      expect(renames).to.be.greaterThan(8)
    })

    it('at seeded random moments, then again while resuming', async () => {
      const rng = seededRandom('train')
      for (let i = 0; i < 3; i++) {
        const out = tempDir(`train-random${i}`)
        const first = await run(trainArgs(out), {killAfterMs: Math.round(rng.uniform(400, 2500))})
        tally.cases++
        if (wasKilled(first)) tally.kills++
        if (existsSync(join(out, 'last.ckpt'))) {
          const second = await run(trainArgs(out, '--resume'), {killAfterMs: Math.round(rng.uniform(300, 1500))})
          if (wasKilled(second)) tally.kills++
        }

        await recoverAndCheck(out)
      }
    })

    it('--force keeps the old run when the new one cannot start', async () => {
      const out = tempDir('force')
      expect((await run(trainArgs(out))).code).to.equal(0)
      const before = readFileSync(join(out, 'best.ckpt'))
      const failed = await run(trainArgs(out, '--force', '--backend', 'node'))
      tally.cases++
      expect(failed.code).to.not.equal(0)
      expect(failed.stderr.trimEnd().split('\n').at(-1)).to.match(/^Error: .*tfjs-node/)
      expect(readFileSync(join(out, 'best.ckpt')).equals(before)).to.equal(true)
      expect(existsSync(join(out, 'metrics.json'))).to.equal(true)
    })

    it('temporary files of killed writers are swept by the next run, --resume and --force', async () => {
      const out = tempDir('debris')
      expect((await run(trainArgs(out, 'epochs:1'))).code).to.equal(0)
      // pid 999999 is above Linux's default pid_max range in use here: a writer that is gone.
      const plant = () => {
        for (const name of ['.best.ckpt.999999.0123456789ab.tmp', '.gallery.png.999999.ba9876543210.tmp', 'logs/.metrics.csv.999999.aaaaaaaaaaaa.tmp'])
          writeFileSync(join(out, name), 'debris')
      }

      for (const extra of [['--resume'], ['--force']]) {
        plant()
        const result = await run(trainArgs(out, 'epochs:1', ...extra))
        tally.cases++
        expect(result.code, result.stderr).to.equal(0)
        expect(temporaries(out)).to.deep.equal([])
      }
    })
  })

  describe('export', () => {
    let ckptA: string
    let ckptB: string
    /** checkpointId → SHA-256 of the weights an export of it holds. */
    const weightsOf = new Map<string, string>()

    before(async () => {
      ckptA = join(await sharedRun(), 'best.ckpt')
      const a = decodeCheckpoint(readFileSync(ckptA), ckptA)
      const values = Object.fromEntries(Object.entries(a.values).map(([name, v]) => [name, v.map((x) => x * 0.5)]))
      ckptB = join(tempDir('export-b'), 'b.ckpt')
      writeFileSync(ckptB, encodeCheckpoint(a.header, values))
      for (const ckpt of [ckptA, ckptB]) {
        const dir = tempDir('export-ref')
        expect((await run(['export', '--checkpoint-path', ckpt, '--output-dir', dir])).code).to.equal(0)
        const meta = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')).userDefinedMetadata
        weightsOf.set(meta.checkpoint_id, meta.weights_sha256)
      }
    })

    /** model.json names a weights file that is there, whose bytes are the ones exported from the checkpoint model.json names. */
    function assertPair(dir: string): void {
      const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'))
      const weights = readFileSync(join(dir, json.weightsManifest[0].paths[0]))
      const sha = createHash('sha256').update(weights).digest('hex')
      expect(sha).to.equal(json.userDefinedMetadata.weights_sha256)
      expect(weightsOf.get(json.userDefinedMetadata.checkpoint_id)).to.equal(sha)
    }

    it('over an existing export, at every rename and at random moments: model.json always pairs with its own weights', async () => {
      const rng = seededRandom('export')
      const plans: Array<{env?: Record<string, string>; killAfterMs?: number}> = [
        {env: {DIGIT_FAULT_KILL_AT: 'rename:1'}},
        {env: {DIGIT_FAULT_KILL_AT: 'rename:2'}},
        ...Array.from({length: 3}, () => ({killAfterMs: Math.round(rng.uniform(200, 1200))})),
      ]
      for (const plan of plans) {
        const dir = tempDir('export')
        expect((await run(['export', '--checkpoint-path', ckptA, '--output-dir', dir])).code).to.equal(0)
        const killed = await run(['export', '--checkpoint-path', ckptB, '--output-dir', dir], plan)
        tally.cases++
        if (wasKilled(killed)) tally.kills++
        else expect(killed.code, killed.stderr).to.equal(0)
        assertPair(dir)
        const again = await run(['export', '--checkpoint-path', ckptB, '--output-dir', dir])
        expect(again.code, again.stderr).to.equal(0)
        assertPair(dir)
        expect(readdirSync(dir).sort()).to.deep.equal(JSON.parse(again.stdout).files.sort())
      }
    })
  })

  describe('download (local HTTP server)', () => {
    it('at every rename and at random moments: only verified bytes under a real name, the next run completes, no .part left', async () => {
      const server = await startTestServer()
      try {
        const bodies = [
          readFileSync(join(FIXTURE_DIR, MNIST_FILES.trainImages.name)),
          readFileSync(join(FIXTURE_DIR, MNIST_FILES.trainLabels.name)),
          readFileSync(join(ROOT, 'sample.png')),
          Buffer.alloc(300_000, 7),
        ]
        const files = bodies.map((body, i) => ({name: `file${i}.gz`, md5: createHash('md5').update(body).digest('hex')}))
        for (const [i, body] of bodies.entries()) server.on(`/${files[i].name}`, {kind: 'serve', body})
        const download = (dir: string, plan: {env?: Record<string, string>; killAfterMs?: number} = {}) =>
          spawnDownload(dir, JSON.stringify(files), server.url, plan)
        const assertVerified = (dir: string) => {
          for (const file of files) {
            const path = join(dir, file.name)
            if (existsSync(path)) expect(createHash('md5').update(readFileSync(path)).digest('hex'), file.name).to.equal(file.md5)
          }
        }

        const rng = seededRandom('download')
        const plans = [
          ...files.map((_, i) => ({env: {DIGIT_FAULT_KILL_AT: `rename:${i + 1}`}})),
          ...Array.from({length: 2}, () => ({killAfterMs: Math.round(rng.uniform(150, 700))})),
        ]
        for (const plan of plans) {
          const dir = join(tempDir('download'), 'data')
          const killed = await download(dir, plan)
          tally.cases++
          if (wasKilled(killed)) tally.kills++
          if (existsSync(dir)) assertVerified(dir)
          const next = await download(dir)
          expect(next.code, next.stderr).to.equal(0)
          assertVerified(dir)
          expect(readdirSync(dir).sort()).to.deep.equal(files.map((file) => file.name))
        }
      } finally {
        await server.close()
      }
    })
  })
})

async function spawnDownload(dir: string, files: string, mirror: string, plan: {env?: Record<string, string>; killAfterMs?: number}): Promise<Spawned> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'download-child.ts'), dir, files, mirror], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {...process.env, ...plan.env},
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const timer = plan.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), plan.killAfterMs)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])))
  clearTimeout(timer)
  return {code, signal, stdout, stderr}
}
