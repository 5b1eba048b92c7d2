/**
 * What a person meets in the first minute of the web app, in Chromium: the
 * layout at 1280×900 and on a 390×844 phone, the answer's place, training
 * states, the server going away, the plots in both themes, and the words.
 */
import {existsSync} from 'node:fs'
import {copyFile, cp, mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {expect} from 'chai'
import {type Browser, type BrowserContext, type Page, chromium} from 'playwright-core'

import {buildLossCurves, buildMetrics} from '../../src/artifacts/build.js'
import {DEFAULT_CLASSES as CLASSES} from '../../src/config.js'
import {classificationReport} from '../../src/evaluation/metrics.js'
import type {RunningServer} from '../../src/server/server.js'
import {grayPng} from '../../src/images/png.js'
import {CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, accessibilityProblems, drawZeroWithMouse, drawZeroWithTouch} from './browser.js'
import {TINY_CLASS_COUNTS, fixtureDigitPngs, startFixtureServer, tempDir, trainedCheckpoint} from './helpers.js'

const DESKTOP = {viewport: {width: 1280, height: 900}, bypassCSP: true}
const PHONE = {viewport: {width: 390, height: 844}, deviceScaleFactor: 2, isMobile: true, hasTouch: true, bypassCSP: true}

/** Where the screenshots of this file are also copied, to be looked at. */
const SHOTS = process.env.WEB_SHOTS_DIR ?? SCREENSHOTS

/** Epochs whose validation scores climb from 0.92 to 0.995: the curve a good run draws. */
const GOOD_EPOCHS = [1, 2, 3, 4].map((epoch) => ({
  epoch,
  train_loss: 0.4 / epoch,
  train_accuracy: 0.9 + epoch / 50,
  val_loss: 0.3 / epoch,
  val_balanced_accuracy: 0.92 + epoch / 60,
  val_f1_macro: 0.92 + (epoch * 0.075) / 4,
  learning_rate: 1e-3,
  epoch_seconds: 2,
}))

/** The "0, 5 and 8" of the page, from the classes the server knows. */
const digitWords = `${CLASSES.slice(0, -1).join(', ')} and ${CLASSES.at(-1)}`

/** A run of many batches (batch size 1 over most of the fixture): it is still in its first epoch seconds after it starts. */
const LONG_RUN = {'batch-size': 1, 'class-counts': '8=500,0=500,5=500'}

/** Tables wider than the panel they sit in (its content box), as "table id or caption: widths" lines. */
function overflowingTables(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('table'))
      .filter((table) => table.offsetParent !== null)
      .flatMap((table) => {
        const panel = table.closest('section')!
        const style = getComputedStyle(panel)
        const room = panel.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)
        const wrap = table.parentElement!
        const width = Math.max(table.getBoundingClientRect().width, wrap.scrollWidth)
        return width > room + 1
          ? [`${table.id || table.querySelector('caption')?.textContent || table.className}: ${Math.round(width)} > ${Math.round(room)}`]
          : []
      }),
  )
}

/** Text of the live regions each time it changes, while `action` runs. */
async function liveRegionChanges(page: Page, action: () => Promise<void>): Promise<string[]> {
  await page.evaluate(() => {
    const changes: string[] = []
    ;(window as unknown as {liveChanges: string[]}).liveChanges = changes
    const regions = Array.from(document.querySelectorAll('[aria-live], [role="status"], [role="alert"]')).filter((node) =>
      node.closest('#predict, #answer, #result'),
    )
    for (const region of regions) {
      let last = region.textContent
      new MutationObserver(() => {
        if (region.textContent !== last) changes.push((last = region.textContent))
      }).observe(region, {subtree: true, childList: true, characterData: true})
    }
  })
  await action()
  return page.evaluate(() => (window as unknown as {liveChanges: string[]}).liveChanges)
}

describe('web app page, the first minute (headless Chromium)', function () {
  this.timeout(300_000)
  let server: RunningServer
  let browser: Browser
  let temp: Awaited<ReturnType<typeof tempDir>>
  let digitPng: Buffer
  const pageErrors: string[] = []

  async function open(context: BrowserContext, url = server.url): Promise<Page> {
    const page = await context.newPage()
    page.on('pageerror', (error) => pageErrors.push(error.message))
    await page.goto(url)
    await page.waitForSelector('body[data-ready="true"]')
    return page
  }

  async function shot(page: Page, name: string): Promise<void> {
    await mkdir(SHOTS, {recursive: true})
    await page.screenshot({path: join(SHOTS, `${name}.png`), fullPage: false})
  }

  /** A run through the API, as the page's own script would send it (batch size 1: many batches per epoch). */
  function startRun(page: Page, body: Record<string, unknown>): Promise<number> {
    return page.evaluate(async (request) => {
      const response = await fetch('/api/train', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(request)})
      return response.status
    }, body)
  }

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI) throw new Error(`${CHROMIUM} is missing in CI`)
      this.skip()
    }

    temp = await tempDir()
    const checkpoint = await trainedCheckpoint()
    digitPng = (await fixtureDigitPngs(1))[0].png
    // The run answering predictions: an excellent evaluation score, so a quick run from the page is worse.
    const good = join(temp.dir, 'runs', 'good-run')
    await mkdir(good, {recursive: true})
    const truth = [0, 0, 0, 5, 5, 8, 8, 8, 8]
    const guess = [0, 0, 0, 5, 8, 8, 8, 8, 8]
    const report = classificationReport(truth, guess, CLASSES)
    const split = {samples: 9, loss: 0.05, accuracy: 0.996, balanced_accuracy: 0.996, f1_macro: 0.996}
    const metrics = buildMetrics({epochs: GOOD_EPOCHS, bestEpoch: 4, splits: {train: split, val: split, eval: split}, classificationReport: report})
    await writeFile(join(good, 'metrics.json'), JSON.stringify(metrics))
    await writeFile(join(good, 'loss_curves.json'), JSON.stringify(buildLossCurves(GOOD_EPOCHS)))
    await writeFile(join(good, 'confusion_matrix.png'), grayPng(new Float32Array(784).fill(0.9)))
    await writeFile(join(good, 'reliability.png'), grayPng(new Float32Array(784).fill(0.95)))
    await copyFile(checkpoint, join(good, 'best.ckpt'))
    server = await startFixtureServer(temp.dir, {checkpointPath: join(good, 'best.ckpt')})
    browser = await chromium.launch({executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true})
  })

  after(async () => {
    await browser?.close()
    await server?.close()
    await temp?.remove()
  })

  describe('desktop 1280×900, light', () => {
    let context: BrowserContext
    let page: Page
    before(async () => {
      context = await browser.newContext({...DESKTOP, colorScheme: 'light'})
      page = await open(context)
    })
    after(async () => context?.close())

    it('names the digits the model knows, and the run answering (never a bare checkpoint id)', async () => {
      await page.waitForFunction(() => document.querySelector('#health')?.textContent?.includes('good-run'))
      expect(await page.locator('header').innerText()).to.include(`Knows the digits ${digitWords}`)
      expect(await page.locator('header').innerText()).not.to.match(/\b[0-9a-f]{12}\b/)
      await shot(page, 'desktop-light-empty')
    })

    it('has a square drawing pad (defect 1)', async () => {
      const box = (await page.locator('#pad').boundingBox())!
      expect(Math.abs(box.width - box.height), `${box.width}×${box.height}`).to.be.at.most(1)
      expect(box.width).to.be.at.least(280)
    })

    it('puts input and answer side by side at equal weight, the answer in one place whether live or logged (defect 2)', async () => {
      const input = (await page.locator('#predict').boundingBox())!
      const answer = (await page.locator('#answer').boundingBox())!
      expect(Math.abs(input.y - answer.y)).to.be.at.most(2)
      expect(answer.x).to.be.greaterThan(input.x + input.width - 1)
      expect(answer.width / input.width).to.be.within(0.9, 1.1)
      await page.locator('#brush').fill('24')
      await drawZeroWithMouse(page)
      await page.waitForSelector('body:not([data-live-busy]) #result[data-kind="live"][data-stale="false"]')
      const liveBox = (await page.locator('#result-label').boundingBox())!
      await shot(page, 'desktop-light-live')
      await page.locator('#predict-button').click()
      await page.waitForSelector('#result[data-kind="logged"]')
      const loggedBox = (await page.locator('#result-label').boundingBox())!
      expect(loggedBox).to.deep.equal(liveBox)
      expect(await page.locator('#result-model').textContent()).to.include('good-run')
      expect(await page.locator('#answer').innerText()).not.to.match(/\b[0-9a-f]{12}\b/)
    })

    it('keeps the focus on a history row after feedback given with Enter (defect 4)', async () => {
      await page.waitForSelector('#history-rows tr[data-id]')
      const id = await page.locator('#history-rows tr[data-id]').first().getAttribute('data-id')
      const wrongLabel = CLASSES.find((label) => String(label) !== '0')!
      await page.locator(`#history-rows tr[data-id="${id}"] button[data-label="${wrongLabel}"]`).focus()
      await page.keyboard.press('Enter')
      await page.waitForSelector(`#history-rows tr[data-id="${id}"] button[data-label="${wrongLabel}"][aria-pressed="true"]`)
      expect(
        await page.evaluate(() => ({row: document.activeElement?.closest('tr')?.dataset.id, label: (document.activeElement as HTMLElement).dataset.label})),
      ).to.deep.equal({
        row: id,
        label: String(wrongLabel),
      })
    })

    it('says in words, not only in colour, whether a logged prediction was right (defect 12)', async () => {
      const row = page.locator('#history-rows tr[data-id]').first()
      const [record] = (await server.store.list({feedback: 'given', limit: 1, offset: 0})).items
      expect(await row.innerText()).to.match(record.feedback === record.predicted ? /right/ : /wrong/)
      await page.locator('#answer').scrollIntoViewIfNeeded()
      await page.getByRole('button', {name: 'the digit was 0', exact: true}).click()
      await page.waitForFunction(() => document.querySelector('#feedback-note')?.textContent?.startsWith('Thanks'))
      await shot(page, 'desktop-light-logged-feedback')
    })

    it('announces the answer once per stroke, not every 250 ms while drawing (defect 12)', async () => {
      await page.locator('#clear').click()
      const changes = await liveRegionChanges(page, async () => {
        const box = (await page.locator('#pad').boundingBox())!
        await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.15)
        await page.mouse.down()
        // A slow stroke of about two seconds: several live answers arrive while it is drawn.
        for (let step = 0; step <= 40; step++) {
          await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * (0.15 + (0.7 * step) / 40))
          await page.waitForTimeout(50)
        }

        await page.mouse.up()
        await page.waitForSelector('body:not([data-live-busy]) #result[data-kind="live"][data-stale="false"]')
        await page.waitForTimeout(300)
      })
      expect(changes.length, changes.join(' | ')).to.be.at.most(2)
      expect(changes.join(' ').split(/\s+/).length).to.be.at.most(20)
    })

    it('shows no old upload once the pad is cleared and drawn on (defect 3)', async () => {
      await page.locator('#upload').setInputFiles({name: 'digit.png', mimeType: 'image/png', buffer: digitPng})
      await page.waitForSelector('#input-figure:not([hidden])')
      await page.locator('#clear').click()
      await drawZeroWithMouse(page)
      await page.waitForSelector('body:not([data-live-busy]) #result[data-kind="live"][data-stale="false"]')
      expect(await page.locator('#input-figure').isHidden()).to.equal(true)
    })

    it('says "sure" with a number that is true: >99.9% for 0.99986, not 100.0% (defect 13)', async () => {
      await server.store.insert({
        thumbnail: `data:image/png;base64,${grayPng(new Float32Array(784)).toString('base64')}`,
        predicted: CLASSES[0],
        confidence: 0.99986,
        probs: Object.fromEntries(CLASSES.map((label, i) => [String(label), i === 0 ? 0.99986 : 0.00007])) as Record<`${(typeof CLASSES)[number]}`, number>,
        checkpointId: server.model.info.checkpointId!,
        source: 'upload',
      })
      await page.locator('#history-filters select[name="feedback"]').selectOption('none')
      await page.locator('#history-filters select[name="feedback"]').selectOption('any')
      await page.waitForFunction(() => Array.from(document.querySelectorAll('#history-rows td')).some((cell) => cell.textContent === '>99.9%'))
      expect(await page.locator('#history-rows').innerText()).not.to.include('100.0%')
    })

    it("puts an error in a user's words next to the control that caused it (defect 13)", async () => {
      const counts = page.locator('#train-form input[name="class-counts"]')
      await counts.fill('7=10')
      await page.locator('#train-start').click()
      await page.waitForSelector('#error-class-counts:not([hidden])')
      const said = await page.locator('#error-class-counts').textContent()
      expect(said).to.match(/^Class counts: /)
      expect(said).to.include(digitWords)
      expect(said).not.to.match(/request body|key "|unknown class/)
      await counts.fill('')

      await page.locator('#url-input').fill('http://no-such-host.invalid/digit.png')
      await page.locator('#url-button').click()
      await page.waitForSelector('#url-error:not([hidden])')
      expect(await page.locator('#url-error').textContent()).not.to.match(/getaddrinfo|ENOTFOUND|EAI_/)
      expect(await page.locator('#url-error').textContent()).to.match(/address/)
    })

    it('lists runs in a compact table that fits its panel, with the confusion matrix as a table (defects 8, 12)', async () => {
      await page.getByRole('button', {name: 'good-run'}).click()
      await page.waitForSelector('#run-detail:not([hidden])')
      await page.waitForSelector('#confusion table')
      const cells = await page
        .locator('#confusion tr')
        .evaluateAll((rows) => rows.slice(1).map((row) => Array.from(row.querySelectorAll('td')).map((cell) => Number(cell.textContent))))
      expect(cells).to.deep.equal(classificationReport([0, 0, 0, 5, 5, 8, 8, 8, 8], [0, 0, 0, 5, 8, 8, 8, 8, 8], CLASSES).confusion_matrix)
      expect(await page.locator('#runs-table thead').innerText()).to.match(/Run\s+Model\s+Digits\s+Eval macro-F1\s+State/)
      expect(await overflowingTables(page)).to.deep.equal([])
      await page.locator('#runs').scrollIntoViewIfNeeded()
      await shot(page, 'desktop-light-runs')
    })

    it("draws the curves at their box's width, text of 11 px at least, the score axis zoomed on the scores (defect 10)", async () => {
      await page.waitForFunction(() => {
        const curves = document.querySelector<HTMLImageElement>('#curves')
        return curves?.complete && curves.naturalWidth > 0
      })
      const {ratio, fonts, axes} = await page.evaluate(async () => {
        const image = document.querySelector<HTMLImageElement>('#curves')!
        const svg = new DOMParser().parseFromString(await (await fetch(image.src)).text(), 'image/svg+xml')
        return {
          ratio: image.getBoundingClientRect().width / image.naturalWidth,
          fonts: Array.from(svg.querySelectorAll('text'))
            .map((text) => parseFloat(text.getAttribute('font-size') ?? getComputedStyle(text).fontSize))
            .filter(Number.isFinite),
          axes: Array.from(svg.querySelectorAll('[aria-label]'))
            .map((node) => node.getAttribute('aria-label')!)
            .filter((label) => label.startsWith('Y-axis')),
        }
      })
      expect(fonts.length).to.be.greaterThan(0)
      expect(Math.min(...fonts) * ratio).to.be.at.least(11)
      const score = axes.find((label) => label.includes('score'))!
      const lowest = Number(/values from ([\d.]+)/.exec(score)?.[1])
      // The lowest score drawn is 0.9367: the axis starts just under it, not at 0.
      expect(lowest, score).to.be.within(0.85, 0.9367)
    })

    it('has no serious or critical accessibility problems with a run open (axe-core, light)', async () => {
      expect(await accessibilityProblems(page)).to.deep.equal([])
    })

    it('cancels in the first epoch at the next batch, one "cancelled" state, and gives the name back (defect 5)', async () => {
      expect(await startRun(page, {...LONG_RUN, epochs: 3, 'run-name': 'quick-cancel'})).to.equal(202)
      await page.waitForFunction(() => /batch \d+\//.test(document.querySelector('#train-state')?.textContent ?? ''))
      await page.locator('#train-cancel').click()
      await page.waitForSelector('#train-state[data-state="cancelled"]', {timeout: 60_000})
      const status = server.training.snapshot()
      // Stopped inside epoch 1, not at its end.
      expect(status.history).to.have.length(0)
      expect(status.current!.batch).to.be.lessThan(status.current!.batches)
      await page.waitForSelector('#run-rows tr[data-run="quick-cancel"] .badge.cancelled')
      expect(await page.locator('#run-rows tr[data-run="quick-cancel"]').innerText()).to.include('cancelled')
    })

    it('offers "when finished", only if better by default: a worse run does not replace the served model, and says why (defect 6)', async () => {
      expect(await page.locator('#train-form select[name="activate"]').inputValue()).to.equal('if-better')
      await page.locator('#train-form input[name="epochs"]').fill('1')
      await page.locator('#train-form input[name="class-counts"]').fill(TINY_CLASS_COUNTS)
      await page.locator('#train-form input[name="run-name"]').fill('quick-worse')
      await page.locator('#train-start').click()
      await page.waitForSelector('#train-state[data-state="running"]')
      await page.locator('#train').scrollIntoViewIfNeeded()
      await shot(page, 'desktop-light-training')
      await page.waitForSelector('#train-state[data-state="finished"]', {timeout: 120_000})
      // The epoch table's columns are the metrics the server declares, each cell the epoch's value in its notation.
      expect(await page.locator('#epochs-table thead th').allTextContents()).to.deep.equal([
        'Epoch',
        'Train loss',
        'Val loss',
        'Val bal. acc',
        'Val macro-F1',
        'LR',
        'Seconds',
      ])
      const [trained] = server.training.snapshot().history
      expect(await page.locator('#train-epochs tr').first().locator('td').allTextContents()).to.deep.equal([
        '1',
        trained.train_loss.toFixed(4),
        trained.val_loss.toFixed(4),
        trained.val_balanced_accuracy.toFixed(4),
        trained.val_f1_macro.toFixed(4),
        trained.learning_rate.toExponential(1),
        trained.epoch_seconds.toFixed(1),
      ])
      // The log follows its end.
      expect(await page.locator('#train-log').evaluate((log) => log.scrollHeight - log.scrollTop - log.clientHeight)).to.be.below(24)
      expect(server.model.info.checkpointPath).to.match(/good-run[/\\]best\.ckpt$/)
      expect(await page.locator('#train-state').textContent()).to.match(/did not change \(not better: eval macro-F1 [\d.]+ against 0\.9960\)/)
      // Still cancelled after the next run, and the name can be used again.
      await page.waitForSelector('#run-rows tr[data-run="quick-cancel"] .badge.cancelled')
      await page.locator('#train-form input[name="run-name"]').fill('quick-cancel')
      await page.locator('#train-start').click()
      await page.waitForSelector('#train-state[data-state="running"]')
      expect(await page.locator('#error-run-name').isHidden()).to.equal(true)
      await page.waitForSelector('#train-state[data-state="finished"]', {timeout: 120_000})
      await page.waitForSelector('#run-rows tr[data-run="quick-cancel"] .badge.finished')
      expect(pageErrors).to.deep.equal([])
    })
  })

  describe('desktop 1280×900, dark', () => {
    let context: BrowserContext
    let page: Page
    before(async () => {
      context = await browser.newContext({...DESKTOP, colorScheme: 'dark'})
      page = await open(context)
    })
    after(async () => context?.close())

    it("says the theme toggle's state with aria-pressed (defect 12)", async () => {
      expect(await page.locator('#theme').getAttribute('aria-pressed')).to.equal('true')
      await page.locator('#theme').click()
      expect(await page.locator('#theme').getAttribute('aria-pressed')).to.equal('false')
      await page.locator('#theme').click()
      expect(await page.locator('#theme').getAttribute('aria-pressed')).to.equal('true')
      await shot(page, 'desktop-dark-empty')
    })

    it('shows answers, live and logged, in the dark theme', async () => {
      await drawZeroWithMouse(page)
      await page.waitForSelector('body:not([data-live-busy]) #result[data-kind="live"][data-stale="false"]')
      await shot(page, 'desktop-dark-live')
      await page.locator('#predict-button').click()
      await page.waitForSelector('#result[data-kind="logged"]')
      await page.getByRole('button', {name: 'the digit was 0', exact: true}).click()
      await page.waitForFunction(() => document.querySelector('#feedback-note')?.textContent?.startsWith('Thanks'))
      await shot(page, 'desktop-dark-logged-feedback')
    })

    it('draws the plots for the dark theme (defect 10)', async () => {
      await page.getByRole('button', {name: 'good-run'}).click()
      await page.waitForSelector('#run-detail:not([hidden]) #confusion')
      await page.waitForFunction(() => document.querySelector<HTMLImageElement>('#curves')?.complete)
      expect(await page.locator('#curves').getAttribute('src')).to.match(/[?&]theme=dark(&|$)/)
      const backgrounds = await page.locator('#run-plots img.raster').evaluateAll((images) => images.map((image) => getComputedStyle(image).filter))
      expect(backgrounds.length).to.be.greaterThan(0)
      for (const filter of backgrounds) expect(filter).to.include('invert(1)')
      expect(await page.locator('#run-plots img[alt="confusion matrix"]').count()).to.equal(0)
      await page.locator('#runs').scrollIntoViewIfNeeded()
      await shot(page, 'desktop-dark-runs')
    })

    it('has no serious or critical accessibility problems (axe-core, dark, run open)', async () => {
      expect(await accessibilityProblems(page)).to.deep.equal([])
    })

    it('shows a run in progress in the dark theme', async () => {
      expect(await startRun(page, {...LONG_RUN, epochs: 2, 'run-name': 'dark-progress', activate: 'never'})).to.equal(202)
      await page.waitForFunction(() => /batch \d+\//.test(document.querySelector('#train-state')?.textContent ?? ''))
      await page.locator('#train').scrollIntoViewIfNeeded()
      await shot(page, 'desktop-dark-training')
      await page.locator('#train-cancel').click()
      await page.waitForSelector('#train-state[data-state="cancelled"]', {timeout: 60_000})
    })
  })

  for (const scheme of ['light', 'dark'] as const) {
    describe(`phone 390×844, ${scheme}`, () => {
      let context: BrowserContext
      let page: Page
      before(async () => {
        context = await browser.newContext({...PHONE, colorScheme: scheme})
        page = await open(context)
      })
      after(async () => context?.close())

      it('has the answer on screen right after a stroke (defect 2)', async () => {
        await shot(page, `phone-${scheme}-empty`)
        await drawZeroWithTouch(page)
        await page.waitForSelector('#result[data-kind="live"]')
        const box = (await page.locator('#result-label').boundingBox())!
        const scrolled = await page.evaluate(() => window.scrollY)
        expect(box.y - scrolled).to.be.at.least(0)
        expect(box.y - scrolled + box.height, `answer at y=${box.y}`).to.be.at.most(844)
        await shot(page, `phone-${scheme}-live`)
        await page.locator('#predict-button').click()
        await page.waitForSelector('#result[data-kind="logged"]')
        await page.getByRole('button', {name: 'the digit was 0', exact: true}).click()
        await page.waitForFunction(() => document.querySelector('#feedback-note')?.textContent?.startsWith('Thanks'))
        await page.locator('#answer').scrollIntoViewIfNeeded()
        await shot(page, `phone-${scheme}-logged-feedback`)
      })

      it('fits every table in its panel, history feedback buttons included (defect 8)', async () => {
        await page.getByRole('button', {name: 'good-run'}).click()
        await page.waitForSelector('#run-detail:not([hidden]) #confusion')
        await page.waitForSelector('#history-rows tr[data-id]')
        expect(await overflowingTables(page)).to.deep.equal([])
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).to.be.at.most(390)
        const buttons = await page.locator('#history-rows tr[data-id] .feedback-cell button').evaluateAll((nodes) =>
          nodes.map((node) => {
            const box = node.getBoundingClientRect()
            const panel = node.closest('.table-wrap')!.getBoundingClientRect()
            return box.right <= panel.right + 1
          }),
        )
        expect(buttons.length).to.be.greaterThan(0)
        expect(buttons.every(Boolean)).to.equal(true)
        await page.locator('#runs').scrollIntoViewIfNeeded()
        await shot(page, `phone-${scheme}-runs`)
      })

      it('draws the curves readable on the phone (defect 10)', async () => {
        await page.waitForFunction(() => document.querySelector<HTMLImageElement>('#curves')?.complete)
        const {ratio, smallest} = await page.evaluate(async () => {
          const image = document.querySelector<HTMLImageElement>('#curves')!
          const svg = new DOMParser().parseFromString(await (await fetch(image.src)).text(), 'image/svg+xml')
          const sizes = Array.from(svg.querySelectorAll('text'))
            .map((text) => parseFloat(text.getAttribute('font-size') ?? ''))
            .filter(Number.isFinite)
          return {ratio: image.getBoundingClientRect().width / image.naturalWidth, smallest: sizes.length > 0 ? Math.min(...sizes) : 0}
        })
        expect(smallest * ratio).to.be.at.least(11)
      })

      it(`has no serious or critical accessibility problems (axe-core, phone, ${scheme})`, async () => {
        expect(await accessibilityProblems(page)).to.deep.equal([])
      })

      it('shows a run in progress on the phone', async () => {
        expect(await startRun(page, {...LONG_RUN, epochs: 2, 'run-name': `phone-${scheme}-progress`, activate: 'never'})).to.equal(202)
        await page.waitForFunction(() => /batch \d+\//.test(document.querySelector('#train-state')?.textContent ?? ''))
        await page.locator('#train-state').scrollIntoViewIfNeeded()
        await shot(page, `phone-${scheme}-training`)
        await page.locator('#train-cancel').click()
        await page.waitForSelector('#train-state[data-state="cancelled"]', {timeout: 60_000})
      })
    })
  }

  describe('a server without MNIST files', () => {
    let bare: RunningServer
    let folder: Awaited<ReturnType<typeof tempDir>>
    before(async () => {
      folder = await tempDir()
      await mkdir(join(folder.dir, 'no-data'))
      bare = await startFixtureServer(folder.dir, {dataDir: join(folder.dir, 'no-data'), databaseUrl: `sqlite:${join(folder.dir, 'p.sqlite')}`})
    })
    after(async () => {
      await bare?.close()
      await folder?.remove()
    })

    it('keeps Start training disabled, also after the training stream has spoken (defect 7)', async () => {
      const context = await browser.newContext({...DESKTOP, colorScheme: 'light'})
      const page = await open(context, bare.url)
      await page.waitForSelector('#train-state[data-state]')
      await page.waitForTimeout(300)
      expect(await page.locator('#train-data').textContent()).to.match(/training from the page is not available/)
      expect(await page.locator('#train-start').isDisabled()).to.equal(true)
      await context.close()
    })
  })

  describe('the server going away and coming back', () => {
    let outage: RunningServer
    let folder: Awaited<ReturnType<typeof tempDir>>
    let port: number
    before(async () => {
      folder = await tempDir()
      await cp(join(temp.dir, 'runs', 'good-run'), join(folder.dir, 'runs', 'good-run'), {recursive: true})
      outage = await startFixtureServer(folder.dir, {checkpointPath: join(folder.dir, 'runs', 'good-run', 'best.ckpt')})
      port = outage.port
      const [digit] = await fixtureDigitPngs(1)
      for (let i = 0; i < 3; i++) {
        await fetch(`${outage.url}/api/predict`, {method: 'POST', headers: {'content-type': 'image/png'}, body: new Uint8Array(digit.png)})
      }
    })
    after(async () => {
      await outage?.close()
      await folder?.remove()
    })

    for (const [name, options] of [
      ['desktop-light', {...DESKTOP, colorScheme: 'light'}],
      ['desktop-dark', {...DESKTOP, colorScheme: 'dark'}],
      ['phone-light', {...PHONE, colorScheme: 'light'}],
    ] as const) {
      it(`says so in one banner with Retry, never "Failed to fetch", and shows no rows the filters exclude (defect 9, ${name})`, async () => {
        const context = await browser.newContext(options)
        const page = await open(context, outage.url)
        await page.waitForSelector('#history-rows tr[data-id]')
        const predicted = Number(await page.locator('#history-rows tr[data-id] .digit-cell').first().textContent())
        const other = CLASSES.find((label) => label !== predicted)!
        await outage.close()
        try {
          await page.locator('#history-filters select[name="predicted"]').selectOption(String(other))
          await page.waitForSelector('#banner:not([hidden])')
          await page.waitForFunction(() => document.querySelector('#history-rows')?.getAttribute('aria-busy') === null)
          const text = await page.locator('body').innerText()
          expect(text).not.to.match(/Failed to fetch|NetworkError|TypeError/)
          expect(await page.locator('#health').textContent()).to.match(/unreachable/)
          expect(await page.locator('#history-rows .digit-cell').allTextContents()).to.satisfy((cells: string[]) =>
            cells.every((cell) => cell === String(other)),
          )
          await shot(page, `${name}-server-down`)
          expect(await accessibilityProblems(page)).to.deep.equal([])
        } finally {
          // Back on the same port, as a restarted server would be.
          outage = await startFixtureServer(folder.dir, {port, checkpointPath: join(folder.dir, 'runs', 'good-run', 'best.ckpt')})
        }

        await page.locator('#banner-retry').click()
        await page.waitForSelector('#banner', {state: 'hidden'})
        expect(await page.locator('#health').textContent()).to.include('good-run')
        await context.close()
      })
    }
  })
})
