import {join} from 'node:path'

import {expect} from 'chai'

import {type RunningServer, startServer} from '../../src/server/server.js'
import {TINY_CLASS_COUNTS, fixtureDigitPngs, startFixtureServer, tempDir, trainedCheckpoint} from './helpers.js'

interface ServerEvent {
  event: string
  data: Record<string, unknown>
}

/** Reads a server-sent event stream as it arrives. */
function listen(url: string): {events: ServerEvent[]; waitFor(test: (event: ServerEvent) => boolean, ms?: number): Promise<ServerEvent>; stop(): void} {
  const events: ServerEvent[] = []
  const controller = new AbortController()
  const waiting = new Set<() => void>()
  void (async () => {
    const response = await fetch(url, {signal: controller.signal})
    const decoder = new TextDecoder()
    let buffer = ''
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, {stream: true})
      let end: number
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const event = /^event: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (event && data) events.push({event, data: JSON.parse(data) as Record<string, unknown>})
        for (const wake of waiting) wake()
      }
    }
  })().catch(() => {})
  return {
    events,
    waitFor(test, ms = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching event within ${ms} ms; got ${events.map((e) => e.event).join(', ')}`)), ms)
        const check = () => {
          const found = events.find(test)
          if (!found) return
          clearTimeout(timer)
          waiting.delete(check)
          resolve(found)
        }

        waiting.add(check)
        check()
      })
    },
    stop: () => controller.abort(),
  }
}

const post = (server: RunningServer, path: string, body?: unknown) =>
  fetch(`${server.url}${path}`, {method: 'POST', headers: {'content-type': 'application/json'}, body: body === undefined ? undefined : JSON.stringify(body)})

describe('web app training', function () {
  this.timeout(180_000)
  let server: RunningServer
  let temp: Awaited<ReturnType<typeof tempDir>>

  before(async () => {
    temp = await tempDir()
    server = await startFixtureServer(temp.dir)
  })

  after(async () => {
    await server?.close()
    await temp?.remove()
  })

  it('answers predictions with 503 until a model is loaded', async () => {
    const [digit] = await fixtureDigitPngs(1)
    const response = await fetch(`${server.url}/api/predict`, {method: 'POST', headers: {'content-type': 'image/png'}, body: new Uint8Array(digit.png)})
    expect(response.status).to.equal(503)
    expect(((await response.json()) as {error: string}).error).to.match(
      /^no model is loaded yet: start serve with --checkpoint-path FILE, or train a model from the page/,
    )
    expect(await server.store.count()).to.equal(0)
  })

  it('refuses bad training requests with one line saying what to fix', async () => {
    const tooMany = await post(server, '/api/train', {epochs: 99})
    expect(tooMany.status).to.equal(400)
    expect(await tooMany.json()).to.deep.equal({
      error: 'request body: key "epochs": epochs must be at most 20 (the CPU budget)',
      code: 'bad-setting',
      field: 'epochs',
      setting: 'epochs',
    })
    // The page names the field from the answer's code and field, never from the message.
    expect(await (await post(server, '/api/train', {epochs: 2, 'class-counts': '7=10'})).json()).to.include({
      code: 'bad-setting',
      field: 'class-counts',
      setting: 'class_counts',
    })
    expect(await (await post(server, '/api/train', {activate: 'maybe'})).json()).to.include({code: 'bad-setting', field: 'activate'})
    const unknown = await post(server, '/api/train', {epochz: 2})
    expect(unknown.status).to.equal(400)
    expect(((await unknown.json()) as {error: string}).error).to.match(/key "epochz": unknown key/)
    const badName = await post(server, '/api/train', {'run-name': '../escape'})
    expect(badName.status).to.equal(400)
    expect(await badName.json()).to.include({code: 'bad-setting', field: 'run-name'})
    const notTraining = await post(server, '/api/train/cancel')
    expect(notTraining.status).to.equal(409)
    expect(await notTraining.json()).to.include({code: 'not-training'})
    expect(server.training.running).to.equal(false)
  })

  it('trains in a worker with live progress, keeps predicting meanwhile, refuses a second run, then serves the new model', async () => {
    await server.model.load(await trainedCheckpoint())
    const before = server.model.info.checkpointPath
    const [digit] = await fixtureDigitPngs(1)
    const stream = listen(`${server.url}/api/train/events`)
    await stream.waitFor((e) => e.event === 'status' && e.data.state === 'idle')

    const started = await post(server, '/api/train', {epochs: 2, 'batch-size': 4, 'class-counts': TINY_CLASS_COUNTS, 'run-name': 'page-run', seed: 7})
    expect(started.status).to.equal(202)
    expect(await started.json()).to.include({state: 'running', run_name: 'page-run', epochs: 2})

    const second = await post(server, '/api/train', {epochs: 1})
    expect(second.status).to.equal(409)
    expect(((await second.json()) as {error: string}).error).to.equal(
      'a training run is already in progress (page-run); wait for it to finish or cancel it first',
    )

    // The event loop stays free: predictions are answered while the worker trains.
    const batch = await stream.waitFor((e) => e.event === 'batch')
    expect(batch.data).to.have.keys('epoch', 'batch', 'batches', 'loss')
    const during = await fetch(`${server.url}/api/predict`, {method: 'POST', headers: {'content-type': 'image/png'}, body: new Uint8Array(digit.png)})
    expect(during.status).to.equal(200)
    expect(server.training.running, 'the run should still be going after the prediction').to.equal(true)

    const epoch = await stream.waitFor((e) => e.event === 'epoch')
    expect(epoch.data).to.include({epoch: 1})
    expect(epoch.data.val_f1_macro).to.be.a('number')
    const done = await stream.waitFor((e) => e.event === 'status' && e.data.state !== 'running' && e.data.state !== 'idle')
    stream.stop()
    expect(done.data.state, String(done.data.error)).to.equal('finished')
    expect(done.data.history).to.have.length.within(1, 2)
    expect(done.data.summary).to.include({run_name: 'page-run'})
    expect((done.data.model as {checkpoint_path: string}).checkpoint_path).to.equal(join(temp.dir, 'runs', 'page-run', 'best.ckpt'))
    expect(server.model.info.checkpointPath).to.not.equal(before)

    const status = (await (await fetch(`${server.url}/api/train/status`)).json()) as Record<string, unknown>
    expect(status.state).to.equal('finished')
    const runs = (await (await fetch(`${server.url}/api/runs`)).json()) as {runs: Array<{name: string; has_checkpoint: boolean}>}
    expect(runs.runs.find((run) => run.name === 'page-run')?.has_checkpoint).to.equal(true)

    const again = await post(server, '/api/train', {epochs: 1, 'class-counts': TINY_CLASS_COUNTS, 'run-name': 'page-run'})
    expect(again.status).to.equal(409)
    expect(((await again.json()) as {error: string}).error).to.match(/^a run named page-run already exists/)
  })

  it('cancels a run on request', async () => {
    const stream = listen(`${server.url}/api/train/events`)
    const started = await post(server, '/api/train', {epochs: 20, 'batch-size': 1, 'class-counts': TINY_CLASS_COUNTS, 'run-name': 'cancelled-run'})
    expect(started.status).to.equal(202)
    await stream.waitFor((e) => e.event === 'batch')
    expect((await post(server, '/api/train/cancel')).status).to.equal(202)
    const end = await stream.waitFor((e) => e.event === 'status' && e.data.run_name === 'cancelled-run' && e.data.state !== 'running')
    stream.stop()
    expect(end.data.state).to.equal('cancelled')
    expect((end.data.history as unknown[]).length).to.be.below(20)
  })

  it('says where to get MNIST when the data folder has none', async () => {
    const other = await startServer({
      port: 0,
      runsDir: join(temp.dir, 'runs'),
      dataDir: join(temp.dir, 'no-data'),
      databaseUrl: 'sqlite::memory:',
      log: () => {},
    })
    try {
      const response = await post(other, '/api/train', {epochs: 1})
      expect(response.status).to.equal(400)
      expect(((await response.json()) as {error: string}).error).to.match(/^no MNIST files in .*no-data; run "digit-classification download-data --data-dir/)
    } finally {
      await other.close()
    }
  })
})
