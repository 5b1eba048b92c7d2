import {mkdir} from 'node:fs/promises'
import {Writable} from 'node:stream'
import {join} from 'node:path'

import {expect} from 'chai'
import {type Browser, type Page, chromium} from 'playwright-core'

import type {RunningServer} from '../../src/server/server.js'
import {FIXTURE_DIR} from '../helpers/fixtures.js'
import {CHROMIUM, CHROMIUM_ARGS} from './browser.js'
import {neverSureCheckpoint, startFixtureServer, tempDir, trainedCheckpoint} from './helpers.js'

/** A "7" drawn with the mouse: the top bar, then the stroke down to the left. */
async function drawSeven(page: Page): Promise<void> {
  const box = (await page.locator('#pad').boundingBox())!
  const at = (x: number, y: number) => ({x: box.x + box.width * x, y: box.y + box.height * y})
  const points = [at(0.28, 0.22), at(0.72, 0.22), at(0.62, 0.45), at(0.5, 0.82)]
  await page.mouse.move(points[0].x, points[0].y)
  await page.mouse.down()
  for (const {x, y} of points.slice(1)) await page.mouse.move(x, y, {steps: 12})
  await page.mouse.up()
}

describe('web page: a ten-digit model beside the default one (Chromium)', function () {
  this.timeout(600_000)
  let temp: Awaited<ReturnType<typeof tempDir>>
  let server: RunningServer
  let browser: Browser
  let page: Page

  before(async () => {
    temp = await tempDir('digit-page-classes-')
    const {runTraining} = await import('../../src/training/run.js')
    const {resolveTrainingConfig} = await import('../../src/training/config.js')
    const ten = join(temp.dir, 'ten-digits')
    const config = resolveTrainingConfig({
      flags: {classes: '0-9', 'class-counts': 'all', model: 'cnn', augment: false, patience: 3, epochs: 4, 'num-workers': 1, 'run-name': 'ten-digits'},
    })
    await runTraining({config, dataDir: FIXTURE_DIR, outputDir: ten}, {progress: new Writable({write: (_chunk, _encoding, done) => done()})})
    // The ten-digit model again, with a threshold it never reaches: it answers every drawing "not one of 0, 1, …, 9".
    await mkdir(join(temp.dir, 'never-sure'))
    await neverSureCheckpoint(join(ten, 'best.ckpt'), join(temp.dir, 'never-sure', 'best.ckpt'))
    server = await startFixtureServer(temp.dir, {
      checkpointPath: [join(ten, 'best.ckpt'), await trainedCheckpoint(), join(temp.dir, 'never-sure', 'best.ckpt')],
    })
    browser = await chromium.launch({executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true})
    page = await (await browser.newContext({viewport: {width: 1280, height: 900}})).newPage()
    await page.goto(server.url)
    await page.waitForSelector('body[data-ready="true"]')
  })

  after(async () => {
    await browser?.close()
    await server?.close()
    await temp?.remove()
  })

  it('answers a drawn 7 with 7 and records the feedback "7"', async () => {
    expect(await page.locator('#predict-title').textContent()).to.equal('Draw a digit')
    await page.locator('#auto').uncheck()
    await drawSeven(page)
    await page.locator('#predict-button').click()
    await page.waitForSelector('#result[data-kind="logged"]')
    expect(await page.locator('#result-label').textContent()).to.equal('7')
    expect(await page.locator('#bars .bar').count()).to.equal(10)
    await page.locator('#feedback-buttons button[data-label="7"]').click()
    await page.waitForFunction(() => document.querySelector('#feedback-note')?.textContent?.startsWith('Thanks'))
    const history = (await (await fetch(new URL('/api/history', server.url))).json()) as {
      items: Array<{predicted: number; feedback: number | null; probs: Record<string, number>}>
    }
    expect(history.items[0]).to.include({predicted: 7, feedback: 7})
    expect(Object.keys(history.items[0].probs)).to.have.length(10)
  })

  it('switches to the default model and back: title, bars and feedback buttons follow the model', async () => {
    const select = page.locator('#model-select')
    const options = await select.locator('option').evaluateAll((list) => list.map((o) => ({value: (o as HTMLOptionElement).value, text: o.textContent ?? ''})))
    const small = options.find((o) => o.value.startsWith('model:') && /digits 0, 5, 8/.test(o.text))
    const ten = options.find((o) => o.value.startsWith('model:') && /digits 0–9/.test(o.text) && !o.text.includes('never-sure'))
    expect(small, JSON.stringify(options)).to.not.equal(undefined)
    expect(ten, JSON.stringify(options)).to.not.equal(undefined)
    await select.selectOption(small!.value)
    await page.waitForFunction(() => document.querySelector('#predict-title')?.textContent === 'Draw a 0, 5 or 8')
    expect(await page.locator('#digits').textContent()).to.equal('Knows the digits 0, 5 and 8')
    await page.locator('#clear').click()
    await drawSeven(page)
    await page.locator('#predict-button').click()
    await page.waitForSelector('#result[data-kind="logged"]')
    expect(await page.locator('#bars .bar').count()).to.equal(3)
    expect(await page.locator('#feedback-buttons button').evaluateAll((list) => list.map((b) => b.textContent))).to.deep.equal(['0', '5', '8', 'other'])
    await select.selectOption(ten!.value)
    await page.waitForFunction(() => document.querySelector('#predict-title')?.textContent === 'Draw a digit')
  })

  it('says "This doesn\'t look like a digit" when a ten-digit model does not know, and "other" means not a digit', async () => {
    const select = page.locator('#model-select')
    const options = await select.locator('option').evaluateAll((list) => list.map((o) => ({value: (o as HTMLOptionElement).value, text: o.textContent ?? ''})))
    const unsure = options.find((o) => o.value.startsWith('model:') && o.text.includes('never-sure'))
    expect(unsure, JSON.stringify(options)).to.not.equal(undefined)
    await select.selectOption(unsure!.value)
    await page.waitForFunction(() => document.querySelector('#health')?.textContent?.includes('never-sure'))
    await page.locator('#clear').click()
    await drawSeven(page)
    await page.locator('#predict-button').click()
    await page.waitForSelector('#result[data-kind="logged"][data-known="false"]')
    expect(await page.locator('#result-confidence').textContent()).to.equal("This doesn't look like a digit")
    expect(await page.locator('#bars .bar').count()).to.equal(10)
    await page.getByRole('button', {name: 'other: not a digit', exact: true}).click()
    await page.waitForFunction(() => document.querySelector('#feedback-note')?.textContent === 'Thanks: marked as not a digit.')
    const [latest] = (await server.store.list({feedback: 'other', limit: 1, offset: 0})).items
    expect(latest).to.include({known: false, reason: 'not one of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9', feedback: 'other'})
    const small = options.find((o) => o.value.startsWith('model:') && /digits 0, 5, 8/.test(o.text))
    await select.selectOption(small!.value)
    await page.waitForFunction(() => document.querySelector('#predict-title')?.textContent === 'Draw a 0, 5 or 8')
  })

  it('checks a feedback label against the classes of the model that made that prediction', async () => {
    const {items} = (await (await fetch(new URL('/api/history', server.url))).json()) as {items: Array<{id: number; probs: Record<string, number>}>}
    const small = items.find((item) => Object.keys(item.probs).length === 3)!
    const ten = items.find((item) => Object.keys(item.probs).length === 10)!
    // Sent from the page, as the page sends feedback (same origin).
    const send = (id: number, label: number) =>
      page.evaluate(
        async ([id, label]) => {
          const response = await fetch('/api/feedback', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({id, label})})
          return {status: response.status, body: (await response.json()) as {error?: string; feedback?: number}}
        },
        [id, label],
      )
    const answer = {small: await send(small.id, 7), ten: await send(ten.id, 3)}
    expect(answer.small.status).to.equal(400)
    expect(answer.small.body.error).to.match(/"label" must be one of 0, 5, 8, the digits of the model that made prediction \d+/)
    expect(answer.ten).to.deep.include({status: 200})
    expect(answer.ten.body.feedback).to.equal(3)
  })
})
