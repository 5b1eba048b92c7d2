import {copyFile, mkdir, symlink, writeFile} from 'node:fs/promises'
import {request} from 'node:http'
import {join} from 'node:path'

import {expect} from 'chai'

import {buildLossCurves, buildMetrics} from '../../src/artifacts/build.js'
import {epochColumns} from '../../src/artifacts/epoch-log.js'
import {DEFAULT_CLASSES} from '../../src/config.js'
import {classificationReport} from '../../src/evaluation/metrics.js'
import {preprocessBytes} from '../../src/images/preprocess.js'
import {loadPredictor} from '../../src/model/predictor.js'
import {type RunningServer, startServer} from '../../src/server/index.js'
import {MIGRATIONS} from '../../src/server/store/migrations.js'
import {grayPng} from '../../src/images/png.js'
import {ROOT} from '../helpers/fixtures.js'
import {fixtureDigitPngs, tempDir, trainedCheckpoint} from './helpers.js'

/** Answers are checked field by field below; their exact types are the server's concern. */

type Json = Record<string, any>

async function call(server: RunningServer, path: string, init: RequestInit = {}): Promise<{status: number; body: Json; type: string | null}> {
  const response = await fetch(`${server.url}${path}`, init)
  const type = response.headers.get('content-type')
  const body = type?.startsWith('application/json') ? ((await response.json()) as Json) : {bytes: Buffer.from(await response.arrayBuffer())}
  return {status: response.status, body, type}
}

const postJson = (body: unknown): RequestInit => ({method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)})

/** A raw request path, sent as is (fetch would normalise `..` away before it reached the server). */
function rawGet(server: RunningServer, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}/`, {path, method: 'GET'}, (response) => {
      response.resume()
      resolve(response.statusCode ?? 0)
    })
    req.on('error', reject)
    req.end()
  })
}

const ONE_EPOCH = {
  epoch: 1,
  train_loss: 0.9,
  train_accuracy: 0.6,
  val_loss: 0.7,
  val_balanced_accuracy: 0.7,
  val_f1_macro: 0.5,
  learning_rate: 1e-3,
  epoch_seconds: 1.5,
}

describe('web app API', function () {
  this.timeout(120_000)
  let server: RunningServer
  let temp: Awaited<ReturnType<typeof tempDir>>
  let checkpoint: string
  let digits: Array<{label: number; png: Buffer}>

  before(async () => {
    temp = await tempDir()
    checkpoint = await trainedCheckpoint()
    digits = await fixtureDigitPngs(6)
    const runs = join(temp.dir, 'runs')

    // A complete run, as a training run exports it.
    const complete = join(runs, 'complete-run')
    await mkdir(complete, {recursive: true})
    const report = classificationReport([0, 0, 5, 8, 8, 8], [0, 0, 5, 8, 8, 5], [0, 5, 8])
    const split = {samples: 6, loss: 0.3, accuracy: 5 / 6, balanced_accuracy: 0.9, f1_macro: 0.85}
    const metrics = buildMetrics({epochs: [ONE_EPOCH], bestEpoch: 1, splits: {train: split, val: split, eval: split}, classificationReport: report})
    await writeFile(join(complete, 'metrics.json'), JSON.stringify(metrics))
    await writeFile(join(complete, 'loss_curves.json'), JSON.stringify(buildLossCurves([ONE_EPOCH, {...ONE_EPOCH, epoch: 2, val_f1_macro: 0.8}])))
    await writeFile(join(complete, 'confusion_matrix.png'), grayPng(new Float32Array(784).fill(0.25)))
    await writeFile(join(complete, 'gallery.png'), grayPng(new Float32Array(784).fill(0.75)))
    await copyFile(checkpoint, join(complete, 'best.ckpt'))

    // A run caught mid-write, with a damaged file and stored text that must stay text.
    const broken = join(runs, 'broken-run')
    await mkdir(join(broken, 'logs'), {recursive: true})
    await writeFile(join(broken, 'metrics.json'), '{"epochs": 3, "classes": [0, 5')
    await writeFile(join(broken, 'run_metadata.json'), JSON.stringify({runName: '<img src=x onerror=alert(1)>'}))
    await writeFile(join(broken, 'logs', 'metrics.json'), JSON.stringify([ONE_EPOCH]))

    // Not runs: an empty folder, and links leading out of the runs folder.
    await mkdir(join(runs, 'empty-folder'))
    await symlink(join(ROOT, 'fixtures'), join(runs, 'outside-link'))
    await writeFile(join(temp.dir, 'secret.png'), 'outside the runs folder')
    await symlink(join(temp.dir, 'secret.png'), join(complete, 'training_dynamics.png'))

    server = await startServer({
      port: 0,
      checkpointPath: checkpoint,
      runsDir: runs,
      dataDir: join(ROOT, 'fixtures', 'mnist'),
      databaseUrl: `sqlite:${join(temp.dir, 'db', 'predictions.sqlite')}`,
      maxUploadBytes: 256 * 1024,
      log: () => {},
    })
  })

  after(async () => {
    await server?.close()
    await temp?.remove()
  })

  it('binds to 127.0.0.1 on the port it was given (0: any free one)', () => {
    expect(server.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(server.port).to.be.greaterThan(0)
  })

  it('reports health: model, versions, backend, store', async () => {
    const {status, body} = await call(server, '/api/health')
    expect(status).to.equal(200)
    expect(body.status).to.equal('ok')
    expect(body.classes).to.deep.equal([...DEFAULT_CLASSES])
    expect(body.model.loaded).to.equal(true)
    expect(body.model.checkpoint_id).to.match(/^[0-9a-f]{12}$/)
    expect(body.model.backend).to.be.a('string').and.not.empty
    expect(body.package_version).to.match(/^\d+\.\d+\.\d+/)
    expect(body.tfjs_version).to.match(/^\d+\.\d+\.\d+/)
    expect(body.store).to.include({kind: 'sqlite', schema_version: MIGRATIONS.at(-1)!.version})
  })

  it('serves the page and its assets, with a policy that allows nothing from elsewhere', async () => {
    const page = await fetch(`${server.url}/`)
    expect(page.status).to.equal(200)
    expect(page.headers.get('content-security-policy')).to.include("default-src 'self'")
    const html = await page.text()
    expect(html).to.include('<canvas id="pad"')
    expect(html).to.not.match(/https?:\/\//)
    const script = await fetch(`${server.url}/assets/app.js`)
    expect(script.headers.get('content-type')).to.include('javascript')
    expect(await script.text()).to.not.include('innerHTML')
    expect((await call(server, '/assets/..%2Fpackage.json')).status).to.equal(404)
  })

  describe('predict', () => {
    it('answers a JSON data URI (the canvas) with probabilities per class and logs it', async () => {
      const before = await server.store.count()
      const image = `data:image/png;base64,${digits[0].png.toString('base64')}`
      const {status, body} = await call(server, '/api/predict', postJson({image}))
      expect(status).to.equal(200)
      expect(Object.keys(body.probs).sort()).to.deep.equal(DEFAULT_CLASSES.map(String).sort())
      const sum = Object.values(body.probs as Record<string, number>).reduce((a, b) => a + b, 0)
      expect(sum).to.be.closeTo(1, 1e-4)
      expect(body.prediction).to.be.oneOf([...DEFAULT_CLASSES])
      expect(body.confidence).to.equal(body.probs[String(body.prediction)])
      expect(body.checkpoint_id).to.match(/^[0-9a-f]{12}$/)
      expect(body.thumbnail).to.match(/^data:image\/png;base64,/)
      expect(await server.store.count()).to.equal(before + 1)
      const logged = await server.store.get(body.id)
      expect(logged).to.deep.include({predicted: body.prediction, source: 'canvas', checkpointId: body.checkpoint_id, feedback: null})
    })

    it('answers a multipart upload and raw image bytes the same way', async () => {
      const form = new FormData()
      form.append('image', new Blob([new Uint8Array(digits[1].png)], {type: 'image/png'}), 'digit.png')
      const multipart = await call(server, '/api/predict', {method: 'POST', body: form})
      expect(multipart.status).to.equal(200)
      const raw = await call(server, '/api/predict', {method: 'POST', headers: {'content-type': 'image/png'}, body: new Uint8Array(digits[1].png)})
      expect(raw.status).to.equal(200)
      expect(raw.body.probs).to.deep.equal(multipart.body.probs)
      expect((await server.store.get(raw.body.id))?.source).to.equal('upload')
      // A browser's boundary is mixed-case, and a boundary is matched as sent.
      const boundary = '----WebKitFormBoundaryAbCdEfGh12'
      const bytes = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="digit.png"\r\nContent-Type: image/png\r\n\r\n`),
        digits[1].png,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ])
      const browserLike = await call(server, '/api/predict', {
        method: 'POST',
        headers: {'content-type': `multipart/form-data; boundary=${boundary}`},
        body: new Uint8Array(bytes),
      })
      expect(browserLike.status, JSON.stringify(browserLike.body)).to.equal(200)
      expect(browserLike.body.probs).to.deep.equal(multipart.body.probs)
    })

    it('gives what the model itself gives for the same image', async () => {
      const predictor = await loadPredictor(checkpoint)
      try {
        for (const digit of digits.slice(0, 3)) {
          const {body} = await call(server, '/api/predict', {method: 'POST', headers: {'content-type': 'image/png'}, body: new Uint8Array(digit.png)})
          const [direct] = await predictor.predict([(await preprocessBytes(digit.png, 'digit.png', {preprocess: true})).pixels])
          expect(body.prediction).to.equal(direct.prediction)
          for (const label of DEFAULT_CLASSES) expect(body.probs[String(label)]).to.be.closeTo(direct.probs[`${label}`], 1e-6)
        }
      } finally {
        predictor.dispose()
      }
    })

    it('refuses what is not an image with 400 and a message, and logs nothing', async () => {
      const before = await server.store.count()
      const text = await call(server, '/api/predict?name=notes%0A.txt', {method: 'POST', headers: {'content-type': 'image/png'}, body: 'hello, not a picture'})
      expect(text.status).to.equal(400)
      expect(text.body.error).to.match(/^notes \.txt: not a PNG, JPEG, BMP, GIF or TIFF image/)
      // Clients (the page) tell the cases apart by code, never by the message.
      expect(text.body.code).to.equal('not-an-image')
      const empty = await call(server, '/api/predict', postJson({image: 'data:image/png;base64,'}))
      expect(empty.status).to.equal(400)
      expect(empty.body.error).to.match(/the data URI holds no image data/)
      const notUri = await call(server, '/api/predict', postJson({image: 'https://example.com/digit.png'}))
      expect(notUri.status).to.equal(400)
      expect(notUri.body.error).to.match(/data URI/)
      const badJson = await call(server, '/api/predict', {method: 'POST', headers: {'content-type': 'application/json'}, body: '{"image":'})
      expect(badJson.status).to.equal(400)
      expect(badJson.body.code).to.equal('bad-json')
      const noFile = new FormData()
      noFile.append('comment', 'no file here')
      expect((await call(server, '/api/predict', {method: 'POST', body: noFile})).body.error).to.match(/field named "image"/)
      const plain = await call(server, '/api/predict', {method: 'POST', headers: {'content-type': 'text/plain'}, body: 'x'})
      expect(plain.status).to.equal(415)
      expect(await server.store.count()).to.equal(before)
    })

    it('refuses an upload over the size limit with 413', async () => {
      const big = new Uint8Array(300 * 1024)
      big.set(digits[0].png)
      const raw = await call(server, '/api/predict', {method: 'POST', headers: {'content-type': 'image/png'}, body: big})
      expect(raw.status).to.equal(413)
      expect(raw.body.error).to.match(/^the upload is larger than the 256 KiB limit/)
      const form = new FormData()
      form.append('image', new Blob([big], {type: 'image/png'}), 'big.png')
      expect((await call(server, '/api/predict', {method: 'POST', body: form})).status).to.equal(413)
    })

    it('keeps the connection of a refused upload usable on a loaded machine: the rest of the body is read, however late', async () => {
      const big = new Uint8Array(300 * 1024)
      big.set(digits[0].png)
      expect((await call(server, '/api/predict', {method: 'POST', headers: {'content-type': 'image/png'}, body: big})).status).to.equal(413)
      // A busy process: the event loop stalls before the server reads the rest of the body.
      const until = Date.now() + 800
      while (Date.now() < until) {
        /* busy */
      }
      // fetch reuses its pooled keep-alive connection for the next request.
      expect((await call(server, '/api/health')).status).to.equal(200)
    })
  })

  describe('history and feedback', () => {
    it('takes feedback with a true label of 0, 5 or 8 and filters by it', async () => {
      const {body: first} = await call(server, '/api/predict', {method: 'POST', headers: {'content-type': 'image/png'}, body: new Uint8Array(digits[2].png)})
      const {body: second} = await call(server, '/api/predict', {method: 'POST', headers: {'content-type': 'image/png'}, body: new Uint8Array(digits[3].png)})
      const wrongLabel = DEFAULT_CLASSES.find((label) => label !== second.prediction)
      const ok = await call(server, '/api/feedback', postJson({id: first.id, label: first.prediction}))
      expect(ok.status).to.equal(200)
      expect(ok.body).to.include({id: first.id, feedback: first.prediction})
      expect((await call(server, '/api/feedback', postJson({id: second.id, label: wrongLabel}))).status).to.equal(200)

      const correct = await call(server, '/api/history?feedback=correct')
      expect(correct.body.items.map((r: Json) => r.id))
        .to.include(first.id)
        .and.not.include(second.id)
      const wrong = await call(server, '/api/history?feedback=wrong')
      expect(wrong.body.items.map((r: Json) => r.id)).to.deep.equal([second.id])
      const none = await call(server, '/api/history?feedback=none&limit=500')
      expect(none.body.items.map((r: Json) => r.id)).to.not.include(first.id)
      const byLabel = await call(server, `/api/history?predicted=${first.prediction}`)
      expect(byLabel.body.items.every((r: Json) => r.predicted === first.prediction)).to.equal(true)
    })

    it('takes feedback "other" (none of its digits), lists it with feedback=other and under wrong, and says whether each answer knew', async () => {
      const blank = grayPng(new Float32Array(784))
      const {body: none} = await call(server, '/api/predict', {method: 'POST', headers: {'content-type': 'image/png'}, body: new Uint8Array(blank)})
      expect(none).to.include({known: false, reason: 'no digit'})
      const {body: digit} = await call(server, '/api/predict', {method: 'POST', headers: {'content-type': 'image/png'}, body: new Uint8Array(digits[5].png)})
      const ok = await call(server, '/api/feedback', postJson({id: none.id, label: 'other'}))
      expect(ok.status).to.equal(200)
      expect(ok.body).to.include({id: none.id, feedback: 'other', known: false, reason: 'no digit'})
      expect(ok.body.feedback_at).to.be.a('string')

      const other = await call(server, '/api/history?feedback=other')
      expect(other.body.items.map((r: Json) => r.id)).to.deep.equal([none.id])
      expect(other.body.items[0]).to.include({feedback: 'other', known: false, reason: 'no digit'})
      expect((await call(server, '/api/history?feedback=wrong')).body.items.map((r: Json) => r.id)).to.include(none.id)
      expect((await call(server, '/api/history?feedback=correct')).body.items.map((r: Json) => r.id)).to.not.include(none.id)
      const latest = (await call(server, '/api/history?limit=1')).body.items[0]
      expect(latest).to.include({id: digit.id, known: digit.known, feedback: null})
      expect(latest.reason).to.equal(digit.reason ?? null)
    })

    it('pages the history newest first with a total', async () => {
      const all = await call(server, '/api/history?limit=500')
      const page = await call(server, '/api/history?limit=2&offset=1')
      expect(page.body.total).to.equal(all.body.total)
      expect(page.body.items.map((r: Json) => r.id)).to.deep.equal(all.body.items.slice(1, 3).map((r: Json) => r.id))
      expect(all.body.items[0].thumbnail).to.match(/^data:image\/png;base64,/)
    })

    it("refuses feedback outside the classes of the prediction's model, unknown ids and malformed bodies", async () => {
      const {body: record} = await call(server, '/api/predict', {method: 'POST', headers: {'content-type': 'image/png'}, body: new Uint8Array(digits[4].png)})
      const seven = await call(server, '/api/feedback', postJson({id: record.id, label: 7}))
      expect(seven.status).to.equal(400)
      expect(seven.body).to.deep.equal({
        error: `"label" must be one of 0, 5, 8, the digits of the model that made prediction ${record.id}, or "other" when it was none of them`,
        code: 'bad-label',
      })
      expect((await call(server, '/api/feedback', postJson({id: record.id, label: 12}))).body.error).to.equal(
        '"label" must be a digit 0–9 (the digit actually drawn) or "other" (none of the model\'s digits)',
      )
      for (const label of ['Other', 'none', null, -1]) {
        const refused = await call(server, '/api/feedback', postJson({id: record.id, label}))
        expect(refused.status, String(label)).to.equal(400)
        expect(refused.type).to.match(/^application\/json/)
        expect(refused.body.code).to.equal('bad-label')
      }

      expect((await call(server, '/api/feedback', postJson({id: record.id, label: '5'}))).status).to.equal(400)
      const unknown = await call(server, '/api/feedback', postJson({id: 987_654, label: 5}))
      expect(unknown.status).to.equal(404)
      expect(unknown.body.error).to.equal('no prediction with id 987654')
      expect((await call(server, '/api/feedback', postJson({label: 5}))).status).to.equal(400)
      expect((await call(server, '/api/feedback', {method: 'POST', headers: {'content-type': 'application/json'}, body: 'nope'})).status).to.equal(400)
      expect((await server.store.get(record.id))?.feedback).to.equal(null)
    })

    it('refuses bad history filters with 400', async () => {
      expect((await call(server, '/api/history?predicted=12')).body.error).to.equal('query "predicted" must be a digit 0–9')
      expect((await call(server, '/api/history?feedback=maybe')).status).to.equal(400)
      expect((await call(server, '/api/history?limit=0')).status).to.equal(400)
      expect((await call(server, '/api/history?sort=asc')).body.error).to.match(/unknown query parameter sort/)
    })
  })

  describe('runs', () => {
    it('lists the run folders, newest first, with what their files say', async () => {
      const {status, body} = await call(server, '/api/runs')
      expect(status).to.equal(200)
      const names = body.runs.map((run: Json) => run.name).sort()
      expect(names).to.deep.equal(['broken-run', 'complete-run'])
      const complete = body.runs.find((run: Json) => run.name === 'complete-run')
      expect(complete).to.include({has_checkpoint: true, epochs: 1, best_epoch: 1, eval_f1_macro: 0.85, problems: 0})
    })

    it('shows a run: metrics, curves, images; damaged files as problems, never as failures', async () => {
      const complete = await call(server, '/api/runs/complete-run')
      expect(complete.status).to.equal(200)
      expect(complete.body.metrics.splits.eval.f1_macro).to.equal(0.85)
      expect(complete.body.loss_curves.epochs).to.have.length(2)
      expect(complete.body.loss_curves_source).to.equal('loss_curves.json')
      expect(Object.keys(complete.body.images).sort()).to.deep.equal(['confusion_matrix.png', 'gallery.png', 'training_dynamics.png'])
      expect(complete.body.checkpoint.bytes).to.be.greaterThan(1000)
      const image = await call(server, complete.body.images['confusion_matrix.png'] as string)
      expect(image.status).to.equal(200)
      expect(image.type).to.equal('image/png')
      expect(image.body.bytes.subarray(1, 4).toString()).to.equal('PNG')

      // The learning curves as SVG, drawn for the page's light or dark theme.
      const light = await call(server, '/api/runs/complete-run/curves.svg')
      const dark = await call(server, '/api/runs/complete-run/curves.svg?theme=dark')
      expect([light.status, dark.status]).to.deep.equal([200, 200])
      expect(light.type).to.match(/^image\/svg\+xml/)
      const [lightSvg, darkSvg] = [light, dark].map((r) => (r.body.bytes as Buffer).toString())
      expect(lightSvg)
        .to.match(/fill="white"/)
        .and.not.match(/#1a1f29/)
      expect(darkSvg)
        .to.match(/fill="#1a1f29"/)
        .and.match(/fill="#e6e9ef"/)
        .and.not.match(/fill="white"/)
      expect((await call(server, '/api/runs/complete-run/curves.svg?theme=blue')).body.error).to.match(/query "theme" must be light or dark/)

      const broken = await call(server, '/api/runs/broken-run')
      expect(broken.status).to.equal(200)
      expect(broken.body.metrics).to.equal(null)
      expect(broken.body.loss_curves_source).to.equal('logs/metrics.json')
      expect(broken.body.problems.map((p: Json) => p.file).sort()).to.deep.equal(['metrics.json', 'run_metadata.json'])
    })

    it('answers 404 for unknown runs and anything outside the runs folder', async () => {
      expect((await call(server, '/api/runs/no-such-run')).status).to.equal(404)
      expect((await call(server, '/api/runs/empty-folder')).status).to.equal(404)
      expect((await call(server, '/api/runs/outside-link')).status).to.equal(404)
      expect((await call(server, '/api/runs/complete-run/files/training_dynamics.png')).status).to.equal(404)
      expect((await call(server, '/api/runs/complete-run/files/best.ckpt')).status).to.equal(404)
      expect((await call(server, '/api/runs/complete-run/files/metrics.json')).status).to.equal(404)
      for (const path of [
        '/api/runs/..',
        '/api/runs/%2e%2e',
        '/api/runs/..%2F..%2Fetc',
        '/api/runs/%2e%2e%2fcomplete-run/files/gallery.png',
        '/api/runs/complete-run/files/..%2F..%2Fsecret.png',
        '/api/runs/complete-run/files/%2e%2e%2f%2e%2e%2fsecret.png',
        '/api/runs/complete-run/../../secret.png',
        '/api/runs/.%2e/files/gallery.png',
      ]) {
        expect(await rawGet(server, path), path).to.equal(404)
      }
    })

    it('switches the served model to a run checkpoint', async () => {
      const {status, body} = await call(server, '/api/runs/complete-run/activate', {method: 'POST'})
      expect(status).to.equal(200)
      expect(body.model.checkpoint_path).to.match(/complete-run[/\\]best\.ckpt$/)
      expect((await call(server, '/api/health')).body.model.checkpoint_path).to.equal(body.model.checkpoint_path)
      expect((await call(server, '/api/runs/broken-run/activate', {method: 'POST'})).status).to.equal(404)
    })
  })

  it('describes the columns of the epoch table from the declared metrics: names the epoch log has, labels, notations', async () => {
    const {epoch_columns: columns} = (await call(server, '/api/env')).body as {
      epoch_columns: Array<{name: string; label: string; notation: object; wide: boolean}>
    }
    // The declared columns (their list is checked in test/artifacts/epoch-log.test.ts), as JSON.
    expect(columns).to.deep.equal(JSON.parse(JSON.stringify(epochColumns())))
    expect(columns.map((column) => column.name).every((name) => name in ONE_EPOCH)).to.equal(true)
    expect(columns[2]).to.include({label: 'Val bal. acc', wide: false})
    expect(columns[4]).to.deep.include({label: 'LR', notation: {exponential: 1}, wide: true})
  })

  it("spells every key of its answers snake_case, as the package's files and --json outputs do", async () => {
    const png = `data:image/png;base64,${digits[0].png.toString('base64')}`
    const predicted = await call(server, '/api/predict', postJson({image: png}))
    expect(predicted.status).to.equal(200)
    const answers: Record<string, Json> = {
      health: (await call(server, '/api/health')).body,
      status: (await call(server, '/api/status')).body,
      env: (await call(server, '/api/env')).body,
      models: (await call(server, '/api/models')).body,
      predict: predicted.body,
      feedback: (await call(server, '/api/feedback', postJson({id: predicted.body.id, label: 0}))).body,
      history: (await call(server, '/api/history')).body,
      runs: (await call(server, '/api/runs')).body,
      run: (await call(server, '/api/runs/complete-run')).body,
      brokenRun: (await call(server, '/api/runs/broken-run')).body,
      training: (await call(server, '/api/train/status')).body,
    }
    const offenders: string[] = []
    const walk = (value: unknown, path: string): void => {
      if (Array.isArray(value)) value.forEach((item, i) => walk(item, `${path}[${i}]`))
      else if (value !== null && typeof value === 'object') {
        for (const [key, item] of Object.entries(value)) {
          // Digits (probs, per-class reports) and file names (a run's images) are data, not field names.
          const data = /^\d+$/.test(key) || /\.png$/.test(key)
          if (!data && !/^[a-z0-9_]+$/.test(key)) offenders.push(`${path}.${key}`)
          walk(item, `${path}.${key}`)
        }
      }
    }

    for (const [name, body] of Object.entries(answers)) walk(body, name)
    expect(offenders).to.deep.equal([])
    expect(answers.runs.runs.length).to.be.greaterThan(0)
    expect(answers.history.items.length).to.be.greaterThan(0)
  })

  it('answers unknown endpoints with 404 JSON', async () => {
    const {status, body} = await call(server, '/api/nothing')
    expect(status).to.equal(404)
    expect(body.error).to.equal('no such endpoint: GET /api/nothing')
  })
})
