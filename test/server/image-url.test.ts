import {lookup} from 'node:dns/promises'
import {once} from 'node:events'
import {type Server, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {hostname} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'

import {isPrivateAddress} from '../../src/server/image-url.js'
import {type RunningServer, startServer} from '../../src/server/index.js'
import {ROOT} from '../helpers/fixtures.js'
import {fixtureDigitPngs, tempDir, trainedCheckpoint} from './helpers.js'

type Json = Record<string, any>

describe('image URLs', function () {
  this.timeout(120_000)

  it('knows which addresses are not the public internet', () => {
    for (const address of [
      '127.0.0.1',
      '127.9.9.9',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fe80::1',
      'fd00::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '64:ff9b::a9fe:a9fe',
      '224.0.0.1',
    ]) {
      expect(isPrivateAddress(address), address).to.equal(true)
    }

    for (const address of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      expect(isPrivateAddress(address), address).to.equal(false)
    }
  })

  describe('over HTTP', () => {
    let images: Server
    let imagesUrl: string
    let open: RunningServer
    let closed: RunningServer
    let temp: Awaited<ReturnType<typeof tempDir>>
    let png: Buffer

    before(async () => {
      png = (await fixtureDigitPngs(1))[0].png
      // A little web server of images and not-images, on 127.0.0.1.
      images = createServer((request, response) => {
        switch (request.url) {
          case '/digit.png': {
            response.writeHead(200, {'content-type': 'image/png'}).end(png)
            break
          }

          case '/page.html': {
            response.writeHead(200, {'content-type': 'text/html'}).end('<p>not an image</p>')
            break
          }

          case '/big.png': {
            response.writeHead(200, {'content-type': 'image/png', 'content-length': String(2 * 1024 * 1024)}).end(Buffer.alloc(2 * 1024 * 1024))
            break
          }

          case '/endless.png': {
            // No length given, and more bytes than any limit.
            response.writeHead(200, {'content-type': 'image/png'})
            const chunk = Buffer.alloc(64 * 1024)
            const more = () => {
              while (response.write(chunk)) if (response.destroyed) return
            }

            response.on('drain', more)
            response.on('error', () => {})
            more()
            break
          }

          case '/slow.png': {
            response.writeHead(200, {'content-type': 'image/png'})
            response.write(png.subarray(0, 10))
            break // never ends
          }

          case '/moved': {
            response.writeHead(302, {location: '/digit.png'}).end()
            break
          }

          case '/missing.png': {
            response.writeHead(404).end()
            break
          }

          default: {
            response.writeHead(302, {location: '/loop'}).end()
          }
        }
      })
      images.listen(0, '127.0.0.1')
      await once(images, 'listening')
      imagesUrl = `http://127.0.0.1:${(images.address() as AddressInfo).port}`
      temp = await tempDir()
      const common = {
        port: 0,
        checkpointPath: await trainedCheckpoint(),
        runsDir: join(temp.dir, 'runs'),
        dataDir: join(ROOT, 'fixtures', 'mnist'),
        maxUploadBytes: 1024 * 1024,
        urlTimeoutMs: 1500,
        log: () => {},
      }
      open = await startServer({...common, allowPrivateUrls: true, databaseUrl: `sqlite:${join(temp.dir, 'open.sqlite')}`})
      closed = await startServer({...common, databaseUrl: `sqlite:${join(temp.dir, 'closed.sqlite')}`})
    })

    after(async () => {
      await open?.close()
      await closed?.close()
      images?.closeAllConnections()
      images?.close()
      await temp?.remove()
    })

    const predictUrl = async (server: RunningServer, url: string): Promise<{status: number; body: Json}> => {
      const response = await fetch(`${server.url}/api/predict`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({url})})
      return {status: response.status, body: (await response.json()) as Json}
    }

    it('predicts an image by URL exactly as the same bytes uploaded, logged once with source "url" (following a redirect)', async () => {
      const upload = (await (
        await fetch(`${open.url}/api/predict`, {method: 'POST', headers: {'content-type': 'image/png'}, body: new Uint8Array(png)})
      ).json()) as Json
      const before = await open.store.count()
      for (const path of ['/digit.png', '/moved']) {
        const {status, body} = await predictUrl(open, `${imagesUrl}${path}`)
        expect(status, path).to.equal(200)
        expect(body.probs).to.deep.equal(upload.probs)
        expect((await open.store.get(body.id))?.source).to.equal('url')
      }

      expect(await open.store.count()).to.equal(before + 2)
    })

    it('refuses what is not an image, too large, too slow, missing, looping, or not http(s), each in one line', async () => {
      const cases: Array<[string, RegExp]> = [
        [`${imagesUrl}/page.html`, /not an image \(Content-Type "text\/html"\); give the address of the image itself/],
        [`${imagesUrl}/big.png`, /larger than the 1 MiB limit/],
        [`${imagesUrl}/endless.png`, /larger than the 1 MiB limit/],
        [`${imagesUrl}/slow.png`, /no complete answer within 1\.5 s/],
        [`${imagesUrl}/missing.png`, /answered HTTP 404/],
        [`${imagesUrl}/loop`, /more than 3 redirects/],
        ['ftp://example.com/digit.png', /only http and https addresses can be fetched, not ftp:/],
        ['file:///etc/passwd', /only http and https addresses can be fetched, not file:/],
        ['not a url', /is not a URL/],
      ]
      const before = await open.store.count()
      for (const [url, message] of cases) {
        const {status, body} = await predictUrl(open, url)
        expect(status, url).to.equal(400)
        expect(body.error, url).to.match(message)
        expect(body.error).to.not.include('\n')
        expect(body.code, url).to.equal('image-url')
      }

      expect(await open.store.count()).to.equal(before)
    })

    it('refuses loopback, private and link-local addresses unless --allow-private-urls, by literal or by name', async () => {
      const port = new URL(imagesUrl).port
      const before = await closed.store.count()
      for (const url of [
        `${imagesUrl}/digit.png`,
        `http://localhost:${port}/digit.png`,
        `http://[::1]:${port}/digit.png`,
        'http://169.254.169.254/latest/meta-data/',
        'http://10.0.0.1/x.png',
      ]) {
        const {status, body} = await predictUrl(closed, url)
        expect(status, url).to.equal(400)
        expect(body.error, url).to.match(
          /an address of this machine or a private network, which is not fetched; give a public image address \(serve --allow-private-urls allows them\)$/,
        )
      }

      expect(await closed.store.count()).to.equal(before)
    })

    it('checks the address a name resolves to when connecting (a name of this machine is refused too)', async function () {
      const name = hostname()
      const resolved = await lookup(name).catch(() => undefined)
      if (!resolved || !isPrivateAddress(resolved.address)) this.skip()
      const {status, body} = await predictUrl(closed, `http://${name}:${new URL(imagesUrl).port}/digit.png`)
      expect(status).to.equal(400)
      expect(body.error).to.include(`is ${resolved!.address}, an address of this machine or a private network`)
    })
  })
})
