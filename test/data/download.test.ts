import {expect} from 'chai'
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {gzipSync} from 'node:zlib'

import {DownloadInterrupted, type DownloadOptions, type ExpectedFile, downloadMnist} from '../../src/data/download.js'
import {UserError} from '../../src/errors.js'
import {rejectionOf} from '../helpers/assert.js'
import {type TestServer, startTestServer, unusedPort} from '../helpers/http-server.js'

/** A small gzip payload standing in for an MNIST file, different for each seed. */
function payload(seed: number, size = 20_000): Buffer {
  const raw = Buffer.alloc(size)
  let state = seed
  for (let i = 0; i < size; i++) {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648
    // Noise does not compress, so byte offsets in the tests fall inside the gzip body.
    raw[i] = (state >> 16) & 0xff
  }

  return gzipSync(raw)
}

function md5(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('hex')
}

const IMAGES = {name: 'train-images-idx3-ubyte.gz', body: payload(1)}
const LABELS = {name: 'train-labels-idx1-ubyte.gz', body: payload(2, 3000)}
const FILES: ExpectedFile[] = [IMAGES, LABELS].map(({name, body}) => ({name, md5: md5(body)}))

describe('downloadMnist', () => {
  let server: TestServer
  let other: TestServer
  let dataDir: string
  let notes: string[]

  /** Fast knobs for tests: short timeout, tiny backoff, the two fake files. */
  function options(overrides: Partial<DownloadOptions> = {}): DownloadOptions {
    return {
      dataDir,
      source: 'mirrors',
      mirrors: [server.url],
      files: FILES,
      timeoutMs: 2000,
      retries: 2,
      backoffMs: 10,
      log: (message) => notes.push(message),
      ...overrides,
    }
  }

  function serveAll(target: TestServer): void {
    target.on(`/${IMAGES.name}`, {kind: 'serve', body: IMAGES.body})
    target.on(`/${LABELS.name}`, {kind: 'serve', body: LABELS.body})
  }

  beforeEach(async () => {
    server = await startTestServer()
    other = await startTestServer()
    dataDir = path.join(mkdtempSync(path.join(tmpdir(), 'download-')), 'data')
    notes = []
  })

  afterEach(async () => {
    await server.close()
    await other.close()
    rmSync(path.dirname(dataDir), {recursive: true, force: true})
  })

  it('downloads every file under its official name, verified, with progress and no temporary file left', async () => {
    serveAll(server)
    const progress: Array<{name: string; total: number | undefined; last: number; done: boolean}> = []
    const summary = await downloadMnist(
      options({
        progress({name, total}) {
          const entry = {name, total, last: 0, done: false}
          progress.push(entry)
          return {
            update(bytes) {
              entry.last = bytes
            },
            done() {
              entry.done = true
            },
          }
        },
      }),
    )

    expect(readdirSync(dataDir).sort()).to.deep.equal([IMAGES.name, LABELS.name].sort())
    expect(readFileSync(path.join(dataDir, IMAGES.name)).equals(IMAGES.body)).to.equal(true)
    expect(readFileSync(path.join(dataDir, LABELS.name)).equals(LABELS.body)).to.equal(true)
    expect(summary.data_dir).to.equal(dataDir)
    expect(summary.files.map(({seconds, ...rest}) => rest)).to.deep.equal([
      {name: IMAGES.name, bytes: IMAGES.body.length, md5: FILES[0].md5, source: 'mirror', from: server.url, mirror: server.url, skipped: false},
      {name: LABELS.name, bytes: LABELS.body.length, md5: FILES[1].md5, source: 'mirror', from: server.url, mirror: server.url, skipped: false},
    ])
    for (const file of summary.files) expect(file.seconds).to.be.a('number').and.at.least(0)
    expect(progress).to.deep.equal([
      {name: IMAGES.name, total: IMAGES.body.length, last: IMAGES.body.length, done: true},
      {name: LABELS.name, total: LABELS.body.length, last: LABELS.body.length, done: true},
    ])
    expect(server.requests.map((request) => request.path)).to.deep.equal([`/${IMAGES.name}`, `/${LABELS.name}`])
  })

  it('skips verified files on a second run without a single request', async () => {
    serveAll(server)
    await downloadMnist(options())
    const before = server.requests.length

    const summary = await downloadMnist(options())

    expect(server.requests.length).to.equal(before)
    expect(summary.files.map((file) => [file.name, file.skipped, file.mirror, file.md5, file.bytes])).to.deep.equal([
      [IMAGES.name, true, null, FILES[0].md5, IMAGES.body.length],
      [LABELS.name, true, null, FILES[1].md5, LABELS.body.length],
    ])
  })

  it('downloads again a present file whose checksum is wrong, and says so', async () => {
    serveAll(server)
    await downloadMnist(options({files: [FILES[1]]}))
    writeFileSync(path.join(dataDir, IMAGES.name), 'corrupted')

    const summary = await downloadMnist(options())

    expect(summary.files.map((file) => file.skipped)).to.deep.equal([false, true])
    expect(readFileSync(path.join(dataDir, IMAGES.name)).equals(IMAGES.body)).to.equal(true)
    expect(notes.join('\n')).to.match(new RegExp(`${IMAGES.name}: present but its MD5 is ${md5(Buffer.from('corrupted'))}.*downloading it again`))
    expect(server.count(`/${LABELS.name}`)).to.equal(1)
  })

  it('rejects bytes with the wrong MD5, naming file and mirror, and leaves nothing behind', async () => {
    server.on(`/${IMAGES.name}`, {kind: 'serve', body: payload(99)})

    const error = await rejectionOf(downloadMnist(options()))

    expect(error).to.be.instanceOf(UserError)
    expect(error.message).to.include(IMAGES.name).and.include(server.url).and.include('MD5 mismatch')
    expect(error.message).to.include(`expected ${FILES[0].md5}`).and.not.include('\n')
    expect(existsSync(dataDir)).to.equal(false)
    // A mirror serving other bytes is not asked again.
    expect(server.count(`/${IMAGES.name}`)).to.equal(1)
  })

  it('moves to the next mirror when one serves wrong bytes', async () => {
    server.on(`/${IMAGES.name}`, {kind: 'serve', body: payload(99)})
    serveAll(other)

    const summary = await downloadMnist(options({mirrors: [server.url, other.url], files: [FILES[0]]}))

    expect(summary.files[0].mirror).to.equal(other.url)
    expect(readFileSync(path.join(dataDir, IMAGES.name)).equals(IMAGES.body)).to.equal(true)
    expect(notes.join('\n')).to.include(`MD5 mismatch`).and.include('trying the next mirror')
  })

  it('falls back to the next mirror at once on a 404, then keeps using the mirror that worked', async () => {
    serveAll(other)

    const summary = await downloadMnist(options({mirrors: [server.url, other.url]}))

    expect(summary.files.map((file) => file.mirror)).to.deep.equal([other.url, other.url])
    // No retry on a 404, and the second file goes straight to the working mirror.
    expect(server.count(`/${IMAGES.name}`)).to.equal(1)
    expect(server.count(`/${LABELS.name}`)).to.equal(0)
    expect(notes.join('\n')).to.include('HTTP 404')
  })

  it('survives servers that close the connection right after a large body', async () => {
    // Megabytes arriving faster than the disk takes them, then the server's FIN: with
    // a paused HTTP parser this used to end the process (nodejs/undici#5360) in
    // about every other run, so ten runs make a miss unlikely.
    const big = Buffer.alloc(8_000_000, 1)
    server.on(`/${IMAGES.name}`, {kind: 'serve', body: big, headers: {connection: 'close'}})
    const files = [{name: IMAGES.name, md5: md5(big)}]

    for (let run = 0; run < 10; run++) {
      const summary = await downloadMnist(options({files}))
      expect(summary.files[0]).to.include({bytes: big.length, skipped: false})
      rmSync(dataDir, {recursive: true})
    }

    expect(server.count(`/${IMAGES.name}`)).to.equal(10)
  })

  it('retries a connection dropped mid-file and succeeds', async () => {
    server.on(`/${IMAGES.name}`, {kind: 'drop', body: IMAGES.body, after: 5000}, {kind: 'serve', body: IMAGES.body})
    server.on(`/${LABELS.name}`, {kind: 'serve', body: LABELS.body})

    const summary = await downloadMnist(options())

    expect(server.count(`/${IMAGES.name}`)).to.equal(2)
    expect(summary.files[0].mirror).to.equal(server.url)
    expect(readFileSync(path.join(dataDir, IMAGES.name)).equals(IMAGES.body)).to.equal(true)
    expect(notes[0]).to.match(/connection ended after 5000 of \d+ bytes .*retrying in/)
  })

  it('retries server errors with exponential backoff', async () => {
    server.on(`/${IMAGES.name}`, {kind: 'status', status: 503}, {kind: 'status', status: 500}, {kind: 'serve', body: IMAGES.body})
    const started = performance.now()

    await downloadMnist(options({files: [FILES[0]], backoffMs: 60}))

    expect(server.count(`/${IMAGES.name}`)).to.equal(3)
    // Waits of 60 ms then 120 ms.
    expect(performance.now() - started).to.be.at.least(180)
    expect(notes).to.have.length(2)
    expect(notes[0]).to.include('HTTP 503').and.include('retrying in 0.06 s')
    expect(notes[1]).to.include('HTTP 500').and.include('retrying in 0.12 s')
  })

  it('gives up on a mirror after the configured retries and reports the attempts', async () => {
    server.on(`/${IMAGES.name}`, {kind: 'status', status: 500})

    const error = await rejectionOf(downloadMnist(options({retries: 3})))

    expect(server.count(`/${IMAGES.name}`)).to.equal(4)
    expect(error.message).to.match(new RegExp(`could not download ${IMAGES.name}: .*HTTP 500, 4 attempts.*--mirror`))
  })

  it('times out a server that never answers, retries, then falls back', async () => {
    server.on(`/${IMAGES.name}`, {kind: 'stall-headers'})
    serveAll(other)
    const started = performance.now()

    const summary = await downloadMnist(options({mirrors: [server.url, other.url], files: [FILES[0]], timeoutMs: 300, retries: 1}))

    expect(server.count(`/${IMAGES.name}`)).to.equal(2)
    expect(summary.files[0].mirror).to.equal(other.url)
    expect(performance.now() - started).to.be.at.least(600)
    expect(notes.join('\n')).to.include('timed out waiting for a response')
  })

  it('times out a body that stops flowing and retries it', async () => {
    server.on(`/${IMAGES.name}`, {kind: 'stall-body', body: IMAGES.body, after: 1000}, {kind: 'serve', body: IMAGES.body})

    await downloadMnist(options({files: [FILES[0]], timeoutMs: 300}))

    expect(server.count(`/${IMAGES.name}`)).to.equal(2)
    expect(notes[0]).to.match(/timed out waiting for data after 1000 of \d+ bytes/)
    expect(readFileSync(path.join(dataDir, IMAGES.name)).equals(IMAGES.body)).to.equal(true)
  })

  it('never leaves a truncated file under the official name', async () => {
    server.on(`/${IMAGES.name}`, {kind: 'drop', body: IMAGES.body, after: 3000})

    const error = await rejectionOf(downloadMnist(options({retries: 1})))

    expect(error.message).to.include(IMAGES.name).and.include('connection ended after 3000')
    expect(server.count(`/${IMAGES.name}`)).to.equal(2)
    // The folder was created by this run and holds nothing, so it is gone too.
    expect(existsSync(dataDir)).to.equal(false)
  })

  it('keeps the files verified before a later file fails, and their folder', async () => {
    server.on(`/${IMAGES.name}`, {kind: 'serve', body: IMAGES.body})
    server.on(`/${LABELS.name}`, {kind: 'drop', body: LABELS.body, after: 100})

    await rejectionOf(downloadMnist(options({retries: 0})))

    expect(readdirSync(dataDir)).to.deep.equal([IMAGES.name])
  })

  it('follows redirects', async () => {
    server.on(`/${IMAGES.name}`, {kind: 'redirect', location: `${other.url}moved/${IMAGES.name}`})
    other.on(`/moved/${IMAGES.name}`, {kind: 'serve', body: IMAGES.body})

    const summary = await downloadMnist(options({files: [FILES[0]]}))

    expect(summary.files[0].mirror).to.equal(server.url)
    expect(other.count(`/moved/${IMAGES.name}`)).to.equal(1)
  })

  it('with no reachable mirror, fails fast with one line listing every mirror tried', async () => {
    const closed = `http://127.0.0.1:${await unusedPort()}/mnist/`
    const unresolvable = 'http://mnist.invalid/mnist/'
    const started = performance.now()

    const error = await rejectionOf(downloadMnist(options({mirrors: [closed, unresolvable], timeoutMs: 2000, retries: 3, backoffMs: 1000})))

    expect(error).to.be.instanceOf(UserError)
    expect(error.message).to.match(/^cannot reach any MNIST mirror: /)
    expect(error.message).to.include(`${closed} (connection refused)`).and.include(`${unresolvable} (host`)
    expect(error.message).to.include('--mirror URL').and.not.include('\n')
    // Unreachable hosts are not retried: no backoff wait happened.
    expect(performance.now() - started).to.be.below(1000)
    expect(notes).to.deep.equal([])
    expect(existsSync(dataDir)).to.equal(false)
  })

  it('stops on abort and removes the partial file', async () => {
    server.on(`/${IMAGES.name}`, {kind: 'stall-body', body: IMAGES.body, after: 4000})
    const controller = new AbortController()
    const partialSeen = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (existsSync(dataDir) && readdirSync(dataDir).some((name) => name.endsWith('.part'))) {
          clearInterval(timer)
          resolve()
        }
      }, 10)
    })

    const pending = rejectionOf(downloadMnist(options({signal: controller.signal, timeoutMs: 10_000})))
    await partialSeen
    controller.abort()
    const error = await pending

    expect(error).to.be.instanceOf(DownloadInterrupted)
    expect(error.message).to.match(/interrupted; the partial file was removed/)
    expect(existsSync(dataDir)).to.equal(false)
  })

  it('rejects invalid settings with a clear message', async () => {
    const badMirror = await rejectionOf(downloadMnist(options({mirrors: ['ftp://example.org/mnist/']})))
    expect(badMirror).to.be.instanceOf(UserError)
    expect(badMirror.message).to.equal('mirror "ftp://example.org/mnist/" is not an http(s) URL; pass a folder URL such as --mirror https://host/mnist/')

    const badName = await rejectionOf(downloadMnist(options({files: [{name: '../escape.gz', md5: FILES[0].md5}]})))
    expect(badName.message).to.match(/plain names/)
    expect(server.requests).to.deep.equal([])
  })

  it('adds the missing trailing slash to a mirror URL', async () => {
    server.on(`/mnist/${IMAGES.name}`, {kind: 'serve', body: IMAGES.body})

    const summary = await downloadMnist(options({mirrors: [`${server.url}mnist`], files: [FILES[0]]}))

    expect(summary.files[0].mirror).to.equal(`${server.url}mnist/`)
  })

  it('explains a data folder that cannot be created or a target that cannot be read', async () => {
    const parent = path.dirname(dataDir)
    writeFileSync(path.join(parent, 'a-file'), 'x')
    const notAFolder = await rejectionOf(downloadMnist(options({dataDir: path.join(parent, 'a-file', 'data')})))
    expect(notAFolder).to.be.instanceOf(UserError)
    expect(notAFolder.message).to.match(/^cannot use .*a-file as a folder: it is a file; choose another --data-dir$/)

    // A folder where a file should be cannot be checked or replaced.
    mkdirSync(path.join(dataDir, IMAGES.name), {recursive: true})
    const unreadable = await rejectionOf(downloadMnist(options()))
    expect(unreadable).to.be.instanceOf(UserError)
    expect(unreadable.message).to.match(new RegExp(`^cannot read .*${IMAGES.name}`))
    expect(server.requests).to.deep.equal([])
  })
})
