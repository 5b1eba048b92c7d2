import {existsSync} from 'node:fs'
import {copyFile, mkdir, writeFile} from 'node:fs/promises'
import {once} from 'node:events'
import {type Server, createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {join} from 'node:path'

import {expect} from 'chai'
import {type Browser, type BrowserContext, type Page, chromium} from 'playwright-core'

import {buildLossCurves} from '../../src/artifacts/build.js'
import {DEFAULT_CLASSES} from '../../src/config.js'
import type {RunningServer} from '../../src/server/server.js'
import {grayPng} from '../../src/images/png.js'
import {CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, accessibilityProblems, brightShare, drawZeroWithMouse, drawZeroWithTouch, tabTo} from './browser.js'
import {fixtureDigitPngs, startFixtureServer, tempDir, trainedCheckpoint} from './helpers.js'

describe('web app page (headless Chromium)', function () {
  this.timeout(240_000)
  let server: RunningServer
  let images: Server
  let imagesUrl: string
  let browser: Browser
  let temp: Awaited<ReturnType<typeof tempDir>>
  let digitPng: Buffer
  const pageErrors: string[] = []

  /** Pages are opened with bypassCSP only so the test can inject axe-core; the policy itself is checked by the API tests. */
  async function open(context: BrowserContext): Promise<Page> {
    const page = await context.newPage()
    page.on('pageerror', (error) => pageErrors.push(error.message))
    page.on('console', (message) => {
      // The browser's own note on a refused request (the tests send bad input on purpose) is not a page error.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) pageErrors.push(message.text())
    })
    await page.goto(server.url)
    await page.waitForSelector('body[data-ready="true"]')
    return page
  }

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI) throw new Error(`${CHROMIUM} is missing in CI: .ci/services.sh should have installed Debian's chromium`)
      process.stderr.write(`    (skipping browser tests: ${CHROMIUM} not installed; apt-get install chromium)\n`)
      this.skip()
    }

    await mkdir(SCREENSHOTS, {recursive: true})
    temp = await tempDir()
    const checkpoint = await trainedCheckpoint()
    digitPng = (await fixtureDigitPngs(1))[0].png
    const run = join(temp.dir, 'runs', 'earlier-run')
    await mkdir(run, {recursive: true})
    const epochs = [1, 2, 3].map((epoch) => ({
      epoch,
      train_loss: 1 / epoch,
      train_accuracy: 0.5 + epoch / 10,
      val_loss: 1.2 / epoch,
      val_balanced_accuracy: 0.45 + epoch / 10,
      val_f1_macro: 0.4 + epoch / 10,
      learning_rate: 1e-3,
      epoch_seconds: 1,
    }))
    await writeFile(join(run, 'loss_curves.json'), JSON.stringify(buildLossCurves(epochs)))
    const pattern = Float32Array.from({length: 784}, (_, i) => ((i % 28) + Math.floor(i / 28)) / 54)
    await writeFile(join(run, 'confusion_matrix.png'), grayPng(pattern))
    await copyFile(checkpoint, join(run, 'best.ckpt'))

    // Where the page's image-URL input fetches from (a private address: the server allows it here).
    images = createServer((_request, response) => response.writeHead(200, {'content-type': 'image/png'}).end(digitPng))
    images.listen(0, '127.0.0.1')
    await once(images, 'listening')
    imagesUrl = `http://127.0.0.1:${(images.address() as AddressInfo).port}/digit.png`

    server = await startFixtureServer(temp.dir, {checkpointPath: checkpoint, allowPrivateUrls: true})
    browser = await chromium.launch({executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true})
  })

  after(async () => {
    await browser?.close()
    await server?.close()
    images?.close()
    await temp?.remove()
  })

  describe('desktop, light', () => {
    let context: BrowserContext
    let page: Page
    before(async () => {
      context = await browser.newContext({viewport: {width: 1280, height: 900}, colorScheme: 'light', bypassCSP: true})
      page = await open(context)
    })
    after(async () => context?.close())

    it('shows the model it serves, in the light theme the system asks for', async () => {
      await page.waitForFunction(() => document.querySelector('#health')?.textContent?.startsWith('Answering with fixture-run'))
      expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).to.equal('rgb(243, 244, 247)')
    })

    it('predicts live while drawing without logging, logs once when the user presses Predict, with the same numbers', async () => {
      expect(await brightShare(page)).to.equal(0)
      await page.locator('#brush').fill('24')
      await drawZeroWithMouse(page)
      // The live answer to the finished drawing (not to a stroke still being drawn).
      await page.waitForSelector('body:not([data-live-busy]) #result[data-kind="live"][data-stale="false"]:not([hidden])')
      expect(await brightShare(page)).to.be.within(0.05, 0.5)
      expect(await page.locator('#feedback-buttons button').count()).to.equal(0)
      expect(await page.locator('#bars .bar').count()).to.equal(DEFAULT_CLASSES.length)
      expect(await server.store.count()).to.equal(0)
      const liveBars = await page.locator('#bars .bar-value').allTextContents()

      await page.locator('#predict-button').click()
      await page.waitForSelector('#result[data-kind="logged"]')
      expect(await page.locator('#bars .bar-value').allTextContents()).to.deep.equal(liveBars)
      const label = Number(await page.locator('#result-label').textContent())
      const logged = await server.store.list({feedback: 'any', limit: 5, offset: 0})
      expect(logged.total).to.equal(1)
      expect(logged.items[0]).to.include({predicted: label, source: 'canvas', checkpointId: server.model.info.checkpointId})

      // The same drawing is logged once however often Predict is pressed.
      await page.locator('#predict-button').click()
      await page.waitForFunction(() => document.querySelector('#result-kind')?.textContent?.startsWith('already logged'))
      expect(await server.store.count()).to.equal(1)
      await page.waitForSelector('#history-rows tr[data-id]')
    })

    it('names the feedback buttons by the digit and records the choice', async () => {
      await page.getByRole('button', {name: 'the digit was 0', exact: true}).click()
      await page.waitForFunction(() => document.querySelector('#feedback-note')?.textContent?.startsWith('Thanks'))
      const [record] = (await server.store.list({feedback: 'given', limit: 5, offset: 0})).items
      expect(record.feedback).to.equal(0)
      await page.waitForSelector(`#history-rows tr[data-id="${record.id}"] button[aria-pressed="true"][data-label="0"]`)
    })

    it('uploads an image and shows it; a bad upload clears the previous answer and says why', async () => {
      await page.locator('#upload').setInputFiles({name: 'digit.png', mimeType: 'image/png', buffer: digitPng})
      await page.waitForFunction(() => document.querySelector('#history-count')?.textContent?.endsWith('of 2'))
      await page.waitForSelector('#input-figure:not([hidden])')
      expect(await page.locator('#input-preview').evaluate((image: HTMLImageElement) => image.complete && image.naturalWidth)).to.equal(28)
      expect((await server.store.list({feedback: 'any', limit: 1, offset: 0})).items[0].source).to.equal('upload')

      await page.locator('#upload').setInputFiles({name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image')})
      await page.waitForSelector('#upload-error:not([hidden])')
      expect(await page.locator('#upload-error').textContent()).to.match(/not a picture the model can read: use a PNG, JPEG, BMP, GIF or TIFF image/)
      expect(await page.locator('#result').getAttribute('data-kind')).to.equal('empty')
    })

    it('says when a history filter matches nothing', async () => {
      await page.locator('#history-filters select[name="feedback"]').selectOption('wrong')
      await page.locator('#history-filters select[name="predicted"]').selectOption('5')
      await page.waitForFunction(() => document.querySelector('#history-count')?.textContent === 'no prediction matches these filters')
      await page.locator('#history-filters select[name="feedback"]').selectOption('any')
      await page.locator('#history-filters select[name="predicted"]').selectOption('')
      await page.waitForFunction(() => document.querySelector('#history-count')?.textContent?.endsWith('of 2'))
    })

    it('shows a run: curves drawn by Vega-Lite at full size, its plots, its state; the model selector switches models', async () => {
      await page.getByRole('button', {name: 'earlier-run'}).click()
      await page.waitForSelector('#run-detail:not([hidden])')
      expect(await page.locator('#run-name').textContent()).to.match(/^earlier-run did not finish/)
      await page.waitForFunction(() => {
        const curves = document.querySelector<HTMLImageElement>('#curves')
        return curves?.complete && curves.naturalWidth > 500
      })
      await page.waitForFunction(() => document.querySelector<HTMLImageElement>('#run-plots img[alt="confusion matrix"]')?.complete)

      await page.locator('#model-select').selectOption('earlier-run')
      await page.waitForSelector('#run-rows tr[data-run="earlier-run"] .badge.active')
      expect(server.model.info.checkpointPath).to.match(/earlier-run[/\\]best\.ckpt$/)
      await page.screenshot({path: join(SCREENSHOTS, 'desktop-light.png'), fullPage: true})
    })

    it('has no serious or critical accessibility problems (axe-core, light)', async () => {
      expect(await accessibilityProblems(page)).to.deep.equal([])
    })

    it('switches to dark with the toggle and keeps the choice after a reload', async () => {
      await page.locator('#theme').click()
      expect(await page.evaluate(() => document.documentElement.dataset.theme)).to.equal('dark')
      await page.reload()
      await page.waitForSelector('body[data-ready="true"]')
      expect(await page.evaluate(() => document.documentElement.dataset.theme)).to.equal('dark')
      expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).to.equal('rgb(16, 20, 27)')
      await page.locator('#theme').click()
      expect(await page.evaluate(() => document.documentElement.dataset.theme)).to.equal(undefined)
    })

    it('starts a training run with the form as it comes (defaults fitted to the data served), and shows it to the end', async () => {
      const counts = await page.locator('#train-form input[name="class-counts"]').inputValue()
      expect(counts).to.match(/^0=\d+,5=\d+,8=\d+$/)
      await page.locator('#train-form input[name="epochs"]').fill('1')
      await page.locator('#train-form input[name="run-name"]').fill('from-the-page')
      await page.locator('#train-form select[name="activate"]').selectOption('always')
      await page.locator('#train-start').click()
      await page.waitForSelector('#train-state[data-state="running"]')
      await page.waitForSelector('#train-state[data-state="finished"]', {timeout: 180_000})
      expect(await page.locator('#train-state').textContent()).to.match(/finished from-the-page · now answering predictions \(asked to switch when finished\)/)
      await page.waitForSelector('#run-rows tr[data-run="from-the-page"] .badge.active')
      expect(pageErrors).to.deep.equal([])
    })
  })

  describe('desktop, dark, keyboard only', () => {
    let context: BrowserContext
    let page: Page
    before(async () => {
      context = await browser.newContext({viewport: {width: 1280, height: 900}, colorScheme: 'dark', bypassCSP: true})
      page = await open(context)
    })
    after(async () => context?.close())

    it('follows the system dark theme and has no serious or critical accessibility problems there', async () => {
      expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).to.equal('rgb(16, 20, 27)')
      expect(await page.locator('#theme').getAttribute('aria-pressed')).to.equal('true')
      expect(await accessibilityProblems(page)).to.deep.equal([])
    })

    it('predicts from an image address, gives feedback and opens a run, with the keyboard alone', async () => {
      const before = await server.store.count()
      await tabTo(page, '#url-input')
      await page.keyboard.type(imagesUrl)
      await page.keyboard.press('Enter')
      await page.waitForSelector('#result[data-kind="logged"]')
      expect(await server.store.count()).to.equal(before + 1)
      const [latest] = (await server.store.list({feedback: 'any', limit: 1, offset: 0})).items
      expect(latest.source).to.equal('url')

      await tabTo(page, '#feedback-buttons button[data-label="5"]')
      await page.keyboard.press('Enter')
      await page.waitForFunction(() => document.querySelector('#feedback-note')?.textContent?.startsWith('Thanks'))
      expect((await server.store.get(latest.id))?.feedback).to.equal(5)

      await tabTo(page, '#run-rows tr[data-run="earlier-run"] button')
      await page.keyboard.press('Enter')
      await page.waitForSelector('#run-detail:not([hidden])')
      expect(await page.evaluate(() => document.activeElement?.id)).to.equal('run-name')
      // The curves are drawn for the dark theme, and redrawn for the light one when the theme is toggled.
      await page.waitForFunction(() => document.querySelector<HTMLImageElement>('#curves')?.complete)
      expect(await page.locator('#curves').getAttribute('src')).to.match(/[?&]theme=dark(&|$)/)
      await page.locator('#theme').focus()
      await page.keyboard.press('Enter')
      expect(await page.locator('#curves').getAttribute('src')).to.match(/[?&]theme=light(&|$)/)
      await page.keyboard.press('Enter')
      await page.screenshot({path: join(SCREENSHOTS, 'desktop-dark.png'), fullPage: true})
    })
  })

  for (const scheme of ['light', 'dark'] as const) {
    describe(`phone (390×844, touch), ${scheme}`, () => {
      let context: BrowserContext
      let page: Page
      before(async () => {
        context = await browser.newContext({
          viewport: {width: 390, height: 844},
          deviceScaleFactor: 2,
          isMobile: true,
          hasTouch: true,
          colorScheme: scheme,
          bypassCSP: true,
        })
        page = await open(context)
      })
      after(async () => context?.close())

      it('fits the width (no horizontal scrolling), with touch targets of 24 px and main controls of 44 px', async () => {
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).to.be.at.most(390)
        const small = await page.evaluate(() =>
          Array.from(document.querySelectorAll<HTMLElement>('button, select, input, a'))
            .filter((node) => node.offsetParent !== null)
            .map((node) => ({node: node.id || node.getAttribute('aria-label') || node.textContent, box: node.getBoundingClientRect()}))
            .filter(({box}) => box.width < 24 || box.height < 24)
            .map(({node}) => node),
        )
        expect(small).to.deep.equal([])
        for (const id of ['predict-button', 'clear', 'invert', 'url-button', 'theme', 'train-start', 'model-select']) {
          const box = (await page.locator(`#${id}`).boundingBox())!
          expect(box.height, id).to.be.at.least(44)
          expect(box.width, id).to.be.at.least(44)
        }
      })

      it('draws with a finger, predicts live, and logs on Predict', async () => {
        const before = await server.store.count()
        await drawZeroWithTouch(page)
        expect(await brightShare(page)).to.be.within(0.03, 0.5)
        await page.waitForSelector('#result[data-kind="live"]:not([hidden])')
        expect(await server.store.count()).to.equal(before)
        await page.locator('#predict-button').click()
        await page.waitForSelector('#result[data-kind="logged"]')
        expect(await server.store.count()).to.equal(before + 1)
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).to.be.at.most(390)
        await page.screenshot({path: join(SCREENSHOTS, `phone-${scheme}.png`), fullPage: true})
        await page.locator('#history').scrollIntoViewIfNeeded()
        await page.screenshot({path: join(SCREENSHOTS, `phone-${scheme}-history.png`)})
        await page.evaluate(() => window.scrollTo(0, 0))
        await page.screenshot({path: join(SCREENSHOTS, `phone-${scheme}-top.png`)})
      })

      it(`has no serious or critical accessibility problems (axe-core, ${scheme})`, async () => {
        expect(await accessibilityProblems(page)).to.deep.equal([])
        expect(pageErrors).to.deep.equal([])
      })
    })
  }
})
