import {once} from 'node:events'
import {type Server, type Socket, connect, createServer} from 'node:net'
import type {AddressInfo} from 'node:net'

import {expect} from 'chai'

import type {RunningServer} from '../../src/server/index.js'
import {fixtureDigitPngs, isolatedSchema, postgresUrl, startFixtureServer, tempDir, trainedCheckpoint} from './helpers.js'

/** A TCP relay to PostgreSQL that the test can cut and restore: a database outage without touching the database. */
class Relay {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  port = 0

  constructor(private readonly target: {host: string; port: number}) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host)
      for (const socket of [client, upstream]) {
        this.sockets.add(socket)
        socket.on('close', () => this.sockets.delete(socket))
        socket.on('error', () => {})
      }

      client.pipe(upstream).pipe(client)
    })
    server.listen(this.port, '127.0.0.1')
    await once(server, 'listening')
    this.port = (server.address() as AddressInfo).port
    this.server = server
  }

  async cut(): Promise<void> {
    const closed = new Promise((resolve) => this.server?.close(resolve))
    for (const socket of this.sockets) socket.destroy()
    await closed
  }
}

describe('web app: database outage (PostgreSQL behind a relay)', function () {
  this.timeout(120_000)
  let server: RunningServer
  let temp: Awaited<ReturnType<typeof tempDir>>
  let schema: Awaited<ReturnType<typeof isolatedSchema>>
  let relay: Relay
  const log: string[] = []

  before(async function () {
    const url = postgresUrl(this)
    schema = await isolatedSchema(url)
    const target = new URL(schema.url)
    relay = new Relay({host: target.hostname, port: Number(target.port || 5432)})
    await relay.start()
    target.hostname = '127.0.0.1'
    target.port = String(relay.port)
    temp = await tempDir()
    server = await startFixtureServer(temp.dir, {checkpointPath: await trainedCheckpoint(), databaseUrl: target.toString(), log: (line) => log.push(line)})
  })

  after(async () => {
    await server?.close()
    await relay?.cut()
    await schema?.drop()
    await temp?.remove()
  })

  it('answers 503 with one log line per outage (no stack per request), health says so, and recovers when the database is back', async () => {
    const png = new Uint8Array((await fixtureDigitPngs(1))[0].png)
    const predict = () => fetch(`${server.url}/api/predict`, {method: 'POST', headers: {'content-type': 'image/png'}, body: png})
    expect((await predict()).status).to.equal(200)
    expect((await fetch(`${server.url}/api/health`)).status).to.equal(200)

    await relay.cut()
    const answers = await Promise.all(Array.from({length: 12}, (_, i) => (i % 2 === 0 ? predict() : fetch(`${server.url}/api/history`))))
    for (const answer of answers) {
      expect(answer.status).to.equal(503)
      expect(answer.headers.get('retry-after')).to.equal('5')
      expect(((await answer.json()) as {error: string}).error).to.match(
        /^the prediction database is not answering \(.+\); predictions and history are back once it is$/,
      )
    }

    const health = await fetch(`${server.url}/api/health`)
    expect(health.status).to.equal(503)
    const body = (await health.json()) as {status: string; store: {available: boolean; error: string}; model: {loaded: boolean}}
    expect(body.status).to.equal('degraded')
    expect(body.store.available).to.equal(false)
    expect(body.store.error).to.be.a('string').and.not.empty
    expect(body.model.loaded).to.equal(true)

    expect(log.filter((line) => /not answering/.test(line))).to.have.length(1)
    expect(log.join('\n')).to.not.match(/\n\s+at /)
    expect(log.every((line) => !line.includes('\n'))).to.equal(true)

    await relay.start()
    expect((await predict()).status).to.equal(200)
    expect((await fetch(`${server.url}/api/health`)).status).to.equal(200)
    expect(log.filter((line) => /answering again after/.test(line))).to.have.length(1)
    expect(log.at(-1)).to.match(/\(\d+ requests answered 503\)$/)
  })
})
