import {request} from 'node:http'
import {join} from 'node:path'

import {expect} from 'chai'

import {type RunningServer, startServer} from '../../src/server/index.js'
import {fixtureDigitPngs, startFixtureServer, tempDir, trainedCheckpoint} from './helpers.js'

interface Answer {
  status: number
  body: string
  headers: Record<string, string | string[] | undefined>
}

/** A request with exactly these headers (fetch would not let a test choose Host). */
export function raw(url: string, path: string, options: {method?: string; headers?: Record<string, string>; body?: string | Buffer} = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, {method: options.method ?? 'GET', headers: options.headers}, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => resolve({status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: response.headers}))
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

describe('web app: requests from other sites and other hosts', function () {
  this.timeout(120_000)
  let server: RunningServer
  let temp: Awaited<ReturnType<typeof tempDir>>
  let png: Buffer

  before(async () => {
    temp = await tempDir()
    png = (await fixtureDigitPngs(1))[0].png
    server = await startFixtureServer(temp.dir, {checkpointPath: await trainedCheckpoint()})
  })

  after(async () => {
    await server?.close()
    await temp?.remove()
  })

  const json = (body: unknown) => ({'content-type': 'application/json', body: JSON.stringify(body)})
  const canvas = () => json({image: `data:image/png;base64,${png.toString('base64')}`})

  it('refuses state changes that a browser says come from another site (Origin), whatever the endpoint', async () => {
    const evil = {origin: 'http://evil.example'}
    const attempts: Array<[string, Record<string, string>, string | undefined]> = [
      ['/api/predict', {...evil, 'content-type': 'application/json'}, canvas().body],
      ['/api/feedback', {...evil, 'content-type': 'application/json'}, JSON.stringify({id: 1, label: 5})],
      ['/api/runs/any/activate', evil, undefined],
      ['/api/train', {...evil, 'content-type': 'application/json'}, '{"epochs": 1}'],
      ['/api/train/cancel', evil, undefined],
    ]
    const before = await server.store.count()
    for (const [path, headers, body] of attempts) {
      const answer = await raw(server.url, path, {method: 'POST', headers, body})
      expect(answer.status, path).to.equal(403)
      expect(JSON.parse(answer.body).error).to.match(/cross-site/)
    }

    expect(await server.store.count()).to.equal(before)
    expect(server.training.snapshot().state).to.equal('idle')
  })

  it('refuses Sec-Fetch-Site cross-site or same-site, and Origin "null" (sandboxed frames)', async () => {
    const tries: Array<Record<string, string>> = [{'sec-fetch-site': 'cross-site'}, {'sec-fetch-site': 'same-site'}, {origin: 'null'}]
    for (const headers of tries) {
      const answer = await raw(server.url, '/api/predict', {method: 'POST', headers: {...headers, 'content-type': 'application/json'}, body: canvas().body})
      expect(answer.status, JSON.stringify(headers)).to.equal(403)
    }
  })

  it("accepts the page's own requests (same Origin, Sec-Fetch-Site same-origin) and clients that send neither (curl)", async () => {
    const own = {origin: server.url, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json'}
    expect((await raw(server.url, '/api/predict', {method: 'POST', headers: own, body: canvas().body})).status).to.equal(200)
    const curl = await raw(server.url, '/api/predict', {method: 'POST', headers: {'content-type': 'image/png'}, body: png})
    expect(curl.status).to.equal(200)
    const id = JSON.parse(curl.body).id as number
    expect(
      (await raw(server.url, '/api/feedback', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({id, label: 8})})).status,
    ).to.equal(200)
  })

  it('refuses bodies a cross-site form can send without asking (text/plain, urlencoded) with 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      for (const path of ['/api/feedback', '/api/predict', '/api/train']) {
        const answer = await raw(server.url, path, {method: 'POST', headers: {'content-type': type}, body: '{"id": 1, "label": 5}'})
        expect(answer.status, `${type} ${path}`).to.equal(415)
      }
    }

    expect(server.training.snapshot().state).to.equal('idle')
  })

  it('refuses a foreign Host header (DNS rebinding) even for reads, and answers the loopback names', async () => {
    for (const path of ['/', '/api/history', '/api/runs', '/api/health']) {
      const answer = await raw(server.url, path, {headers: {host: `evil.example:${server.port}`}})
      expect(answer.status, path).to.equal(403)
      expect(answer.body).to.not.include('thumbnail')
    }

    for (const host of ['127.0.0.1', 'localhost', '[::1]']) {
      expect((await raw(server.url, '/api/health', {headers: {host: `${host}:${server.port}`}})).status, host).to.equal(200)
    }
  })
})

describe('web app: access token', function () {
  this.timeout(120_000)
  let server: RunningServer
  let temp: Awaited<ReturnType<typeof tempDir>>
  const notes: string[] = []

  before(async () => {
    temp = await tempDir()
    server = await startServer({
      port: 0,
      token: 'a-token-of-twenty-chars',
      allowedHosts: ['digits.example'],
      checkpointPath: await trainedCheckpoint(),
      runsDir: join(temp.dir, 'runs'),
      dataDir: temp.dir,
      log: (line) => notes.push(line),
    })
  })

  after(async () => {
    await server?.close()
    await temp?.remove()
  })

  it('keeps the API closed without the token, opens it with a bearer header or the cookie the page URL sets', async () => {
    expect(server.openUrl).to.equal(`${server.url}/?token=a-token-of-twenty-chars`)
    expect((await raw(server.url, '/api/history')).status).to.equal(401)
    expect((await raw(server.url, '/api/history', {headers: {authorization: 'Bearer wrong-token-of-twenty-c'}})).status).to.equal(401)
    expect((await raw(server.url, '/api/history', {headers: {authorization: 'Bearer a-token-of-twenty-chars'}})).status).to.equal(200)
    // The page and health stay public: they hold nothing.
    expect((await raw(server.url, '/api/health')).status).to.equal(200)
    const page = await raw(server.url, '/?token=a-token-of-twenty-chars')
    expect(page.status).to.equal(200)
    const cookie = String(page.headers['set-cookie']).split(';')[0]
    expect(String(page.headers['set-cookie']))
      .to.match(/HttpOnly/)
      .and.match(/SameSite=Strict/)
    expect((await raw(server.url, '/api/history', {headers: {cookie}})).status).to.equal(200)
  })

  it('health, open to all, tells nothing of where the checkpoint and the database are; status, behind the token, does', async () => {
    const checkpoint = await trainedCheckpoint()
    const health = await raw(server.url, '/api/health')
    expect(health.status).to.equal(200)
    const body = JSON.parse(health.body) as {model: {loaded: boolean; checkpoint_path: unknown}; store: {kind: string; location: unknown; available: boolean}}
    expect(body.model).to.include({loaded: true, checkpoint_path: null})
    expect(body.store).to.include({kind: 'sqlite', location: null, available: true})
    for (const secret of [checkpoint, temp.dir, 'predictions.sqlite', 'fixture-run']) expect(health.body).to.not.include(secret)
    const status = await raw(server.url, '/api/status', {headers: {authorization: 'Bearer a-token-of-twenty-chars'}})
    const full = JSON.parse(status.body) as {model: {checkpoint_path: string}; store: {location: string}}
    expect(full.model.checkpoint_path).to.equal(checkpoint)
    expect(full.store.location).to.equal(join(temp.dir, 'predictions.sqlite'))
  })

  it('answers to a host name named with allowedHosts (a reverse proxy)', async () => {
    const answer = await raw(server.url, '/api/health', {headers: {host: 'digits.example'}})
    expect(answer.status).to.equal(200)
  })

  it('warns when bound beyond loopback, and then makes up a token if none was given', async () => {
    const lines: string[] = []
    const exposed = await startServer({port: 0, host: '0.0.0.0', runsDir: join(temp.dir, 'runs'), dataDir: temp.dir, log: (line) => lines.push(line)})
    try {
      expect(lines.join('\n')).to.match(/warning: --host 0\.0\.0\.0 lets other machines reach this server/)
      expect(exposed.token).to.match(/^[\w-]{20,}$/)
      expect(exposed.openUrl).to.include(`?token=${exposed.token}`)
      const local = exposed.url.replace('0.0.0.0', '127.0.0.1')
      expect((await raw(local, '/api/history')).status).to.equal(401)
      expect((await raw(local, '/api/history', {headers: {authorization: `Bearer ${exposed.token}`}})).status).to.equal(200)
    } finally {
      await exposed.close()
    }

    expect(notes.join('\n')).to.not.include('warning')
  })
})
