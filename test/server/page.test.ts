import {existsSync} from 'node:fs'
import {copyFile, mkdir, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect} from 'chai'
import {type Browser, type Page, chromium} from 'playwright-core'

import {buildLossCurves} from '../../src/artifacts/build.js'
import {CLASSES} from '../../src/config.js'
import {type RunningServer, startServer} from '../../src/server/server.js'
import {grayPng} from '../../src/server/thumbnail.js'
import {FIXTURE_DIR} from '../helpers/fixtures.js'
import {TINY_CLASS_COUNTS, tempDir, trainedCheckpoint} from './helpers.js'

/** Debian's Chromium, installed by .ci/services.sh; Playwright never downloads a browser here. */
const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

/** Where the test leaves its screenshot of the page, to look at after a run. */
export const SCREENSHOT = join(tmpdir(), 'digit-classification-web-app.png')

/** Draw a "0": an ellipse of mouse moves with the button held down. */
async function drawZero(page: Page): Promise<void> {
  const box = (await page.locator('#pad').boundingBox())!
  const cx = box.x + box.width / 2
  const cy = box.y + box.height / 2
  const at = (t: number) => ({x: cx + box.width * 0.22 * Math.sin(t), y: cy - box.height * 0.32 * Math.cos(t)})
  await page.mouse.move(at(0).x, at(0).y)
  await page.mouse.down()
  for (let step = 1; step <= 40; step++) {
    const {x, y} = at((step / 40) * 2 * Math.PI)
    await page.mouse.move(x, y, {steps: 2})
  }

  await page.mouse.up()
}

/** Fraction of the drawing pad's pixels that are bright. */
function brightShare(page: Page): Promise<number> {
  return page.evaluate(() => {
    const pad = document.querySelector<HTMLCanvasElement>('#pad')!
    const {data} = pad.getContext('2d')!.getImageData(0, 0, pad.width, pad.height)
    let bright = 0
    for (let i = 0; i < data.length; i += 4) if (data[i] > 128) bright += 1
    return bright / (data.length / 4)
  })
}

describe('web app page (headless Chromium)', function () {
  this.timeout(180_000)
  let server: RunningServer
  let browser: Browser
  let page: Page
  let temp: Awaited<ReturnType<typeof tempDir>>
  const pageErrors: string[] = []

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI) throw new Error(`${CHROMIUM} is missing in CI: .ci/services.sh should have installed Debian's chromium`)
      process.stderr.write(`    (skipping browser tests: ${CHROMIUM} not installed; apt-get install chromium)\n`)
      this.skip()
    }

    temp = await tempDir()
    const checkpoint = await trainedCheckpoint()
    const run = join(temp.dir, 'runs', 'earlier-run')
    await mkdir(run, {recursive: true})
    const epochs = [1, 2, 3].map((epoch) => ({
      epoch,
      trainLoss: 1 / epoch,
      trainAccuracy: 0.5 + epoch / 10,
      valLoss: 1.2 / epoch,
      valAccuracy: 0.45 + epoch / 10,
      valF1Macro: 0.4 + epoch / 10,
      learningRate: 1e-3,
      epochSeconds: 1,
    }))
    await writeFile(join(run, 'loss_curves.json'), JSON.stringify(buildLossCurves(epochs)))
    const pattern = Float32Array.from({length: 784}, (_, i) => ((i % 28) + Math.floor(i / 28)) / 54)
    await writeFile(join(run, 'confusion_matrix.png'), grayPng(pattern))
    await copyFile(checkpoint, join(run, 'best.ckpt'))

    server = await startServer({
      port: 0,
      checkpointPath: checkpoint,
      runsDir: join(temp.dir, 'runs'),
      dataDir: FIXTURE_DIR,
      databaseUrl: `sqlite:${join(temp.dir, 'predictions.sqlite')}`,
      log: () => {},
    })
    browser = await chromium.launch({executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true})
    page = await browser.newPage({viewport: {width: 1280, height: 1500}})
    page.on('pageerror', (error) => pageErrors.push(error.message))
    page.on('console', (message) => {
      // The browser's own note on a refused request (the test sends a bad upload on purpose) is not a page error.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) pageErrors.push(message.text())
    })
    await page.goto(server.url)
    await page.waitForSelector('body[data-ready="true"]')
  })

  after(async () => {
    await browser?.close()
    await server?.close()
    await temp?.remove()
  })

  it('shows the model it serves', async () => {
    const text = await page.locator('#health').textContent()
    expect(text).to.match(new RegExp(`model ${server.model.info.checkpointId} on \\w+`))
  })

  it('draws with the mouse, predicts on pen lift, shows a bar per class, and logs the prediction', async () => {
    expect(await brightShare(page)).to.equal(0)
    await page.locator('#brush').fill('24')
    await drawZero(page)
    await page.waitForSelector('#result:not([hidden])')
    expect(await brightShare(page)).to.be.within(0.05, 0.5)
    const label = Number(await page.locator('#result-label').textContent())
    expect(label).to.be.oneOf([...CLASSES])
    const bars = page.locator('#bars .bar')
    expect(await bars.count()).to.equal(CLASSES.length)
    expect(await page.locator(`#bars .bar.top`).getAttribute('data-label')).to.equal(String(label))
    const logged = await server.store.list({feedback: 'any', limit: 5, offset: 0})
    expect(logged.total).to.equal(1)
    expect(logged.items[0]).to.include({predicted: label, source: 'canvas', checkpointId: server.model.info.checkpointId})
    await page.waitForSelector('#history-rows tr[data-id]')
  })

  it('takes the true label as feedback and shows it in the filtered history', async () => {
    await page.locator('#feedback-buttons button[data-label="0"]').click()
    await page.waitForFunction(() => document.querySelector('#feedback-note')?.textContent?.startsWith('Thanks'))
    const [record] = (await server.store.list({feedback: 'given', limit: 5, offset: 0})).items
    expect(record.feedback).to.equal(0)
    const verdict = record.predicted === 0 ? 'correct' : 'wrong'
    const other = verdict === 'correct' ? 'wrong' : 'correct'

    await page.locator('#history-filters select[name="feedback"]').selectOption(verdict)
    await page.waitForFunction((id) => document.querySelectorAll('#history-rows tr').length === 1 && document.querySelector(`#history-rows tr[data-id="${id}"]`), record.id)
    expect(await page.locator(`#history-rows tr[data-id="${record.id}"] button[data-label="0"]`).getAttribute('aria-pressed')).to.equal('true')
    await page.locator('#history-filters select[name="feedback"]').selectOption(other)
    await page.waitForFunction(() => document.querySelectorAll('#history-rows tr').length === 0)
    await page.locator('#history-filters select[name="feedback"]').selectOption('any')
    await page.waitForSelector(`#history-rows tr[data-id="${record.id}"]`)
  })

  it('clears and inverts the pad, and uploads an image file', async () => {
    await page.locator('#clear').click()
    expect(await brightShare(page)).to.equal(0)
    await page.locator('#invert').click()
    expect(await brightShare(page)).to.equal(1)
    await drawZero(page)
    expect(await brightShare(page)).to.be.within(0.5, 0.95)
    await page.waitForFunction(() => document.querySelector('#history-count')?.textContent?.endsWith('of 2'))
    await page.locator('#invert').click()

    const digit = Float32Array.from({length: 784}, (_, i) => (Math.abs((i % 28) - 14) < 3 && Math.floor(i / 28) > 4 && Math.floor(i / 28) < 24 ? 1 : 0))
    await page.locator('#upload').setInputFiles({name: 'one.png', mimeType: 'image/png', buffer: grayPng(digit)})
    await page.waitForFunction(() => document.querySelector('#history-count')?.textContent?.endsWith('of 3'))
    expect((await server.store.list({feedback: 'any', limit: 1, offset: 0})).items[0].source).to.equal('upload')

    await page.locator('#upload').setInputFiles({name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image')})
    await page.waitForSelector('#predict-error:not([hidden])')
    expect(await page.locator('#predict-error').textContent()).to.match(/not a PNG, JPEG, BMP, GIF or TIFF image/)
  })

  it('shows stored text as text, never as markup', async () => {
    const thumbnail = `data:image/png;base64,${grayPng(new Float32Array(784)).toString('base64')}`
    await server.store.insert({
      thumbnail,
      predicted: 5,
      confidence: 0.5,
      probs: {'0': 0.25, '5': 0.5, '8': 0.25},
      checkpointId: '<img src=x onerror="window.injected=1">',
      source: 'upload',
    })
    await page.locator('#history-filters select[name="predicted"]').selectOption('5')
    await page.waitForFunction(() => Array.from(document.querySelectorAll('#history-rows td.mono')).some((cell) => cell.textContent?.startsWith('<img')))
    expect(await page.evaluate(() => (window as unknown as {injected?: number}).injected)).to.equal(undefined)
    expect(await page.locator('#history-rows img[src="x"]').count()).to.equal(0)
    await page.locator('#history-filters select[name="predicted"]').selectOption('')
  })

  it('shows a run on the dashboard: curves and images', async () => {
    await page.locator('#run-rows tr[data-run="earlier-run"]').click()
    await page.waitForSelector('#run-detail:not([hidden])')
    expect(await page.locator('#run-name').textContent()).to.equal('earlier-run')
    expect(await page.locator('#curves-source').textContent()).to.equal('(loss_curves.json)')
    await page.waitForFunction(() => {
      const image = document.querySelector<HTMLImageElement>('#run-images img[alt="confusion_matrix.png"]')
      return image?.complete && image.naturalWidth === 28
    })
    const inked = await page.evaluate(() => {
      const canvas = document.querySelector<HTMLCanvasElement>('#curves')!
      const {data} = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height)
      let coloured = 0
      for (let i = 0; i < data.length; i += 4) if (data[i + 3] > 0) coloured += 1
      return coloured
    })
    expect(inked).to.be.greaterThan(500)
  })

  it('starts a training run from the page and shows its live progress to the end', async () => {
    await page.locator('#train-form input[name="epochs"]').fill('1')
    await page.locator('#train-form input[name="class-counts"]').fill(TINY_CLASS_COUNTS)
    await page.locator('#train-form input[name="run-name"]').fill('from-the-page')
    await page.locator('#train-start').click()
    await page.waitForSelector('#train-state[data-state="running"]')
    expect(await page.locator('#train-start').isDisabled()).to.equal(true)
    await page.waitForSelector('#train-state[data-state="finished"]', {timeout: 120_000})
    expect(await page.locator('#train-epochs tr').count()).to.equal(1)
    expect(await page.locator('#train-state').textContent()).to.match(/finished from-the-page · now predicting with model [0-9a-f]{12}/)
    await page.waitForSelector('#run-rows tr[data-run="from-the-page"]')
    await page.locator('#run-rows tr[data-run="from-the-page"]').click()
    await page.waitForFunction(() => document.querySelector('#run-name')?.textContent === 'from-the-page')

    await page.screenshot({path: SCREENSHOT, fullPage: true})
    expect(pageErrors).to.deep.equal([])
  })
})
