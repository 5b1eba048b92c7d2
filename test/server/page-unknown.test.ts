import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {expect} from 'chai'
import {type Browser, type Page, chromium} from 'playwright-core'

import type {RunningServer} from '../../src/server/server.js'
import {grayPng} from '../../src/images/png.js'
import {CHROMIUM, CHROMIUM_ARGS, accessibilityProblems, drawZeroWithMouse} from './browser.js'
import {neverSureCheckpoint, startFixtureServer, tempDir, trainedCheckpoint} from './helpers.js'

describe('web page: answers that do not know, and feedback "other" (Chromium)', function () {
  this.timeout(240_000)
  let temp: Awaited<ReturnType<typeof tempDir>>
  let server: RunningServer
  let browser: Browser
  let page: Page
  const pageErrors: string[] = []

  before(async function () {
    if (!existsSync(CHROMIUM)) {
      if (process.env.CI) throw new Error(`${CHROMIUM} is missing in CI: .ci/services.sh should have installed Debian's chromium`)
      process.stderr.write(`    (skipping browser tests: ${CHROMIUM} not installed; apt-get install chromium)\n`)
      this.skip()
    }

    temp = await tempDir('digit-page-unknown-')
    const checkpoint = join(temp.dir, 'never-sure.ckpt')
    await neverSureCheckpoint(await trainedCheckpoint(), checkpoint)
    server = await startFixtureServer(temp.dir, {checkpointPath: checkpoint})
    browser = await chromium.launch({executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true})
    // bypassCSP only so axe-core can be injected; the policy itself is checked by the API tests.
    page = await (await browser.newContext({viewport: {width: 1280, height: 900}, bypassCSP: true})).newPage()
    page.on('pageerror', (error) => pageErrors.push(error.message))
    await page.goto(server.url)
    await page.waitForSelector('body[data-ready="true"]')
  })

  after(async () => {
    await browser?.close()
    await server?.close()
    await temp?.remove()
  })

  it('says "No digit here" for blank paper instead of "N: 99% sure", with the probabilities still shown', async () => {
    const blank = grayPng(new Float32Array(784).fill(1))
    await page.locator('#upload').setInputFiles({name: 'blank.png', mimeType: 'image/png', buffer: blank})
    await page.waitForSelector('#result[data-kind="logged"][data-known="false"]')
    expect(await page.locator('#result-confidence').textContent()).to.equal('No digit here')
    expect(await page.locator('#result-label').textContent()).to.equal('?')
    expect(await page.locator('#result-summary').textContent()).to.match(/^Answer: no digit here, logged as number \d+\.$/)
    expect(await page.locator('#bars .bar').count()).to.equal(3)
    const [logged] = (await server.store.list({feedback: 'any', limit: 1, offset: 0})).items
    expect(logged).to.include({known: false, reason: 'no digit', source: 'upload'})
  })

  it('says "This doesn\'t look like a 0, 5 or 8" for a drawing the model does not know, live and logged', async () => {
    await drawZeroWithMouse(page)
    await page.waitForSelector('body:not([data-live-busy]) #result[data-kind="live"][data-stale="false"][data-known="false"]')
    expect(await page.locator('#result-confidence').textContent()).to.equal("This doesn't look like a 0, 5 or 8")
    await page.locator('#predict-button').click()
    await page.waitForSelector('#result[data-kind="logged"][data-known="false"]')
    expect(await page.locator('#result-confidence').textContent()).to.equal("This doesn't look like a 0, 5 or 8")
    expect(await page.locator('#result-confidence').textContent()).to.not.match(/sure/)
    expect(await page.locator('#bars .bar').count()).to.equal(3)
    expect(await page.locator('#feedback-buttons button').allTextContents()).to.deep.equal(['0', '5', '8', 'other'])
    expect(await accessibilityProblems(page)).to.deep.equal([])
  })

  it('records "other" from its button, and the history shows it, lists it under other and under wrong, and says the answer did not know', async () => {
    const [latest] = (await server.store.list({feedback: 'any', limit: 1, offset: 0})).items
    const other = page.getByRole('button', {name: 'other: none of 0, 5 and 8', exact: true})
    await other.click()
    await page.waitForFunction(() => document.querySelector('#feedback-note')?.textContent === 'Thanks: marked as none of 0, 5 and 8.')
    expect(await other.getAttribute('aria-pressed')).to.equal('true')
    expect(await server.store.get(latest.id)).to.include({feedback: 'other', known: false, reason: 'not one of 0, 5, 8'})

    const row = page.locator(`#history-rows tr[data-id="${latest.id}"]`)
    await row.locator('button[data-label="other"][aria-pressed="true"]').waitFor()
    expect(await row.innerText())
      .to.include('wrong, was none of 0, 5 and 8')
      .and.include('did not know')
    const blankRow = page.locator('#history-rows tr[data-known="false"]').nth(1)
    expect(await blankRow.innerText()).to.include('no digit')

    const filter = page.locator('#history-filters select[name="feedback"]')
    await filter.selectOption('other')
    await page.waitForFunction(() => document.querySelector('#history-count')?.textContent === '1–1 of 1')
    expect(await page.locator('#history-rows tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id))).to.deep.equal([String(latest.id)])
    await filter.selectOption('wrong')
    await page.waitForFunction(() => document.querySelector('#history-count')?.textContent === '1–1 of 1')
    await filter.selectOption('any')
    await page.waitForFunction(() => document.querySelector('#history-count')?.textContent === '1–2 of 2')
    expect(await accessibilityProblems(page)).to.deep.equal([])
    expect(pageErrors).to.deep.equal([])
  })
})
