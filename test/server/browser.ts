/**
 * Driving the web app in Debian's Chromium (playwright-core, never a
 * downloaded browser): drawing with a mouse or a finger, axe-core, the Tab key.
 */
import {createRequire} from 'node:module'
import {join} from 'node:path'

import type {Page} from 'playwright-core'

import {ROOT} from '../helpers/fixtures.js'

/** Debian's Chromium, installed by .ci/services.sh; Playwright never downloads a browser here. */
export const CHROMIUM = '/usr/bin/chromium'
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

/** Screenshots of each run, to look at afterwards (git ignores the folder; CI keeps it as an artifact). */
export const SCREENSHOTS = join(ROOT, 'test-artifacts', 'screenshots')

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js')

/** Points of a "0": an ellipse over the pad. */
export async function zeroPath(page: Page): Promise<Array<{x: number; y: number}>> {
  const box = (await page.locator('#pad').boundingBox())!
  const cx = box.x + box.width / 2
  const cy = box.y + box.height / 2
  return Array.from({length: 41}, (_, step) => {
    const t = (step / 40) * 2 * Math.PI
    return {x: cx + box.width * 0.22 * Math.sin(t), y: cy - box.height * 0.32 * Math.cos(t)}
  })
}

export async function drawZeroWithMouse(page: Page): Promise<void> {
  const points = await zeroPath(page)
  await page.mouse.move(points[0].x, points[0].y)
  await page.mouse.down()
  for (const {x, y} of points.slice(1)) await page.mouse.move(x, y, {steps: 2})
  await page.mouse.up()
}

/** A finger drawing the "0", through the browser's own touch input (Chrome DevTools Protocol). */
export async function drawZeroWithTouch(page: Page): Promise<void> {
  const points = await zeroPath(page)
  const cdp = await page.context().newCDPSession(page)
  const touch = (type: 'touchStart' | 'touchMove' | 'touchEnd', point?: {x: number; y: number}) =>
    cdp.send('Input.dispatchTouchEvent', {type, touchPoints: point ? [{x: point.x, y: point.y, id: 1, radiusX: 4, radiusY: 4, force: 1}] : []})
  await touch('touchStart', points[0])
  for (const point of points.slice(1)) await touch('touchMove', point)
  await touch('touchEnd')
  await cdp.detach()
}

/** Fraction of the drawing pad's pixels that are bright. */
export function brightShare(page: Page): Promise<number> {
  return page.evaluate(() => {
    const pad = document.querySelector<HTMLCanvasElement>('#pad')!
    const {data} = pad.getContext('2d')!.getImageData(0, 0, pad.width, pad.height)
    let bright = 0
    for (let i = 0; i < data.length; i += 4) if (data[i] > 128) bright += 1
    return bright / (data.length / 4)
  })
}

interface AxeViolation {
  id: string
  impact: string | null
  help: string
  nodes: Array<{target: string[]}>
}

/** axe-core's serious and critical findings against WCAG 2.2 AA, as "rule: element" lines. */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({path: AXE})
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as {axe: {run(context: Document, options: object): Promise<{violations: AxeViolation[]}>}}).axe
    const result = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})
    return result.violations
  })
  return violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .flatMap((violation) => violation.nodes.map((node) => `${violation.id} (${violation.help}): ${node.target.join(' ')}`))
}

/** Press Tab until `selector` has the focus; fails if it is never reached (not keyboard-reachable). */
export async function tabTo(page: Page, selector: string, limit = 120): Promise<void> {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab')
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return
  }

  throw new Error(`${selector} is not reachable with the Tab key`)
}
