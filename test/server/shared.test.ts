import {join} from 'node:path'

import {expect} from 'chai'

import {type RunningServer, startServer} from '../../src/server/index.js'
import {FIXTURE_DIR} from '../helpers/fixtures.js'
import {TINY_CLASS_COUNTS, fixtureDigitPngs, isolatedSchema, postgresUrl, tempDir, trainedCheckpoint} from './helpers.js'

type Json = Record<string, any>

async function post(server: RunningServer, path: string, body?: unknown): Promise<{status: number; body: Json}> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    ...(body === undefined ? {} : {headers: {'content-type': 'application/json'}, body: JSON.stringify(body)}),
  })
  return {status: response.status, body: (await response.json()) as Json}
}

describe('shared deployment: two servers on one PostgreSQL database', function () {
  this.timeout(180_000)
  let a: RunningServer
  let b: RunningServer
  let temp: Awaited<ReturnType<typeof tempDir>>
  let schema: Awaited<ReturnType<typeof isolatedSchema>>

  before(async function () {
    const url = postgresUrl(this)
    schema = await isolatedSchema(url)
    temp = await tempDir()
    const checkpoint = await trainedCheckpoint()
    const start = (runs: string) =>
      startServer({port: 0, checkpointPath: checkpoint, runsDir: join(temp.dir, runs), dataDir: FIXTURE_DIR, databaseUrl: schema.url, log: () => {}})
    ;[a, b] = await Promise.all([start('runs-a'), start('runs-b')])
  })

  after(async () => {
    await Promise.all([a?.close(), b?.close()])
    await schema?.drop()
    await temp?.remove()
  })

  it('share one history: a prediction made on one is seen, and given feedback, on the other', async () => {
    const png = (await fixtureDigitPngs(1))[0].png
    const made = (await (
      await fetch(`${a.url}/api/predict`, {method: 'POST', headers: {'content-type': 'image/png'}, body: new Uint8Array(png)})
    ).json()) as Json
    const seen = (await (await fetch(`${b.url}/api/history`)).json()) as Json
    expect(seen.items.map((item: Json) => item.id)).to.include(made.id)
    expect((await post(b, '/api/feedback', {id: made.id, label: 5})).status).to.equal(200)
    const onA = (await (await fetch(`${a.url}/api/history?feedback=given`)).json()) as Json
    expect(onA.items.find((item: Json) => item.id === made.id).feedback).to.equal(5)
  })

  it('share feedback "other" and whether the answer knew the image', async () => {
    const png = (await fixtureDigitPngs(1))[0].png
    const made = (await (
      await fetch(`${a.url}/api/predict`, {method: 'POST', headers: {'content-type': 'image/png'}, body: new Uint8Array(png)})
    ).json()) as Json
    expect((await post(b, '/api/feedback', {id: made.id, label: 'other'})).body).to.include({feedback: 'other', known: made.known})
    expect((await post(b, '/api/feedback', {id: made.id, label: 7})).status).to.equal(400)
    const onA = (await (await fetch(`${a.url}/api/history?feedback=other`)).json()) as Json
    expect(onA.items.map((item: Json) => item.id)).to.deep.equal([made.id])
    expect(onA.items[0]).to.include({feedback: 'other', known: made.known})
  })

  it('train one run at a time across both: the second server answers 409 while the first trains, and may train once it is done', async () => {
    const long = {epochs: 20, 'batch-size': 1, 'class-counts': TINY_CLASS_COUNTS}
    const first = await post(a, '/api/train', {...long, 'run-name': 'on-a'})
    expect(first.status).to.equal(202)
    const refused = await post(b, '/api/train', {...long, 'run-name': 'on-b'})
    expect(refused.status).to.equal(409)
    expect(refused.body.error).to.equal('a training run is already in progress on another server sharing this database; wait for it to finish')
    expect(b.training.snapshot().state).to.equal('idle')

    expect((await post(a, '/api/train/cancel')).status).to.equal(202)
    await a.training.settled()
    expect(a.training.snapshot().state).to.equal('cancelled')

    const second = await post(b, '/api/train', {...long, 'run-name': 'on-b'})
    expect(second.status).to.equal(202)
    expect((await post(a, '/api/train', {...long, 'run-name': 'on-a-again'})).status).to.equal(409)
    expect((await post(b, '/api/train/cancel')).status).to.equal(202)
    await b.training.settled()
  })
})
