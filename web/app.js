// The page of `digit-classification serve`: plain JavaScript, no build step,
// nothing loaded from elsewhere. Text from the server (the database, run
// files) only ever reaches the page through textContent or attributes, never
// as HTML.

const $ = (id) => document.getElementById(id)

/** Create an element with text and attributes; children are appended as given. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) {
    if (key === 'text') node.textContent = value
    else if (key === 'class') node.className = value
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value)
    else node.setAttribute(key, value)
  }

  for (const child of children) node.append(child)
  return node
}

/** The digits the served model knows, from the server (never assumed here). */
let classes = []
/** Every digit: the history can hold predictions of models that know different ones. */
const DIGITS = Array.from({length: 10}, (_, digit) => digit)

/** "2, 4 or 6": how the page names the digits of a model. */
function classPhrase(list) {
  return list.length === 1 ? String(list[0]) : `${list.slice(0, -1).join(', ')} or ${list.at(-1)}`
}

/** "a 0, 5 or 8", "an 8 or 9": the phrase with its article. */
function aClassPhrase(list) {
  return `${list[0] === 8 ? 'an' : 'a'} ${classPhrase(list)}`
}

/** A model's digits in logit order: the keys of its probabilities. */
function labelsOf(probs) {
  return Object.keys(probs)
    .map(Number)
    .sort((a, b) => a - b)
}

/** Feedback that the image was none of its model's digits, or no digit at all (the API's label "other"). */
const OTHER = 'other'

/** How an answer that does not know says so, worded from the digits of the model that answered. */
function unknownWords(result) {
  if (result.reason === 'no digit') return 'No digit here'
  const labels = labelsOf(result.probs)
  return labels.length === DIGITS.length ? "This doesn't look like a digit" : `This doesn't look like ${aClassPhrase(labels)}`
}

/** "none of 0, 5 and 8": what feedback "other" says about a prediction of a model with these digits. */
function otherWords(labels) {
  return labels.length === DIGITS.length ? 'not a digit' : `none of ${listWords(labels)}`
}

/** "2, 4 and 6" */
function listWords(items) {
  const words = items.map(String)
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`
}

// ---------------------------------------------------------- errors, words

/** Class counts the served data can supply, as an example in error messages. */
let exampleCounts

/** Names of the training form's fields, as the page shows them. */
const FIELD_NAMES = {
  epochs: 'Epochs',
  classes: 'Digits',
  'class-counts': 'Class counts',
  seed: 'Seed',
  'run-name': 'Run name',
  model: 'Model',
  activate: 'When finished',
}

const FIELD_HINTS = {
  epochs: () => 'give a whole number of epochs, 1 or more.',
  classes: () => 'give two or more digits 0–9, such as 3,7 or 0-9, or leave it empty for the default.',
  'class-counts': () =>
    `give digit=count pairs of the digits ${listWords(classes)}, separated by commas (such as ${exampleCounts ?? classes.map((label) => `${label}=100`).join(',')}), or leave it empty for the full subset.`,
  seed: () => 'give a whole number, 0 or more.',
  'run-name': () => 'use letters, digits, ".", "_" or "-", starting with a letter or digit.',
  model: () => 'choose cnn or softmax.',
  activate: () => 'choose what happens when the run finishes.',
}

/**
 * What each error code of the API means to a person using this page. The
 * server's own message (for scripts and logs) is kept as the error's detail.
 */
const ERROR_WORDS = {
  offline: () => 'The server cannot be reached. Check that it is running, then press Retry.',
  'no-model': () => 'No model is answering yet: choose one under "Training runs", or train one and wait for it to finish.',
  'model-unloaded': () => 'The model was being switched. Try again.',
  'not-an-image': () => 'That file is not a picture the model can read: use a PNG, JPEG, BMP, GIF or TIFF image.',
  'image-url': () => 'No image could be fetched from that address. Check the address, or save the image and upload it.',
  'too-large': () => 'That image is too large to send; a digit needs only a few kilobytes.',
  'too-many-pixels': () => 'That image has too many pixels; use a smaller picture.',
  'decoder-busy': () => 'The server is busy reading other images. Try again in a few seconds.',
  'database-unavailable': () => 'The prediction history is unavailable right now; predictions still work, but are not logged. Try again in a moment.',
  'bad-label': () => `The digit must be one of ${listWords(classes)}, or "other".`,
  'bad-setting': (body) =>
    body.field && FIELD_NAMES[body.field] ? `${FIELD_NAMES[body.field]}: ${FIELD_HINTS[body.field]()}` : 'These training settings are not accepted.',
  'no-training-data': () => 'The server was started without MNIST files, so it cannot train.',
  'training-running': () => 'A run is training already: wait for it to finish, or cancel it.',
  'run-exists': () => 'Run name: a run of that name exists already; choose another name, or leave it empty for a dated one.',
  'not-training': () => 'No run is training.',
  'not-found': () => 'That is not there any more; the page shows what is.',
  internal: () => 'Something went wrong on the server; its log has the details.',
}

class PageError extends Error {
  constructor(code, body = {}, status = 0) {
    // A code this page does not know yet: the server's own line, which says what to fix.
    super(ERROR_WORDS[code]?.(body) ?? (body.error ? `The server refused this: ${body.error}` : 'The server refused this request.'))
    this.code = code
    this.field = body.field ?? null
    this.status = status
    /** The server's own words, kept for the curious (shown as a tooltip). */
    this.detail = body.error ?? ''
  }
}

/** Show an error next to the control it belongs to; an empty message hides it. */
function showErrorAt(id, error) {
  const node = $(id)
  const message = typeof error === 'string' ? error : (error?.message ?? '')
  node.textContent = message
  node.title = typeof error === 'object' && error?.detail ? error.detail : ''
  node.hidden = !message
}

async function api(path, options = {}) {
  let response
  try {
    response = await fetch(path, options)
  } catch {
    setOnline(false)
    throw new PageError('offline')
  }

  setOnline(true)
  const body = await response.json().catch(() => ({}))
  if (!response.ok) throw new PageError(body.code ?? 'internal', body, response.status)
  return body
}

const postJson = (path, body) => api(path, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)})

/** A probability as a person reads it: never "100.0%" for a model that is not certain. */
function percent(x) {
  if (x >= 1) return '100%'
  if (x <= 0) return '0%'
  if (x > 0.999) return '>99.9%'
  if (x < 0.001) return '<0.1%'
  return `${(x * 100).toFixed(1)}%`
}

const fixed = (x, digits = 4) => (typeof x === 'number' ? x.toFixed(digits) : '–')
const time = (iso) => new Date(iso).toLocaleString(undefined, {dateStyle: 'short', timeStyle: 'short'})
/** Only PNG data URIs made by the server are shown as images. */
const safeImage = (uri) => (typeof uri === 'string' && uri.startsWith('data:image/png;base64,') ? uri : '')

// ------------------------------------------------------------ connection

const RETRY_MS = 10_000
let online = true
let retryTimer

/** The connection banner: shown while the server cannot be reached, with a Retry button (and a retry every RETRY_MS). */
function setOnline(yes) {
  if (yes === online) return
  online = yes
  $('banner').hidden = yes
  document.body.dataset.online = String(yes)
  clearInterval(retryTimer)
  if (!yes) {
    $('health').textContent = 'server unreachable'
    retryTimer = setInterval(() => void reconnect(), RETRY_MS)
  } else {
    void refreshAll()
  }
}

async function reconnect() {
  $('banner-retry').setAttribute('aria-busy', 'true')
  await refreshHealth()
  $('banner-retry').removeAttribute('aria-busy')
}

$('banner-retry').addEventListener('click', () => void reconnect())

// ------------------------------------------------------------------ theme

const THEME_KEY = 'digit-classification-theme'

function systemDark() {
  return window.matchMedia('(prefers-color-scheme: dark)').matches
}

function applyTheme(choice) {
  if (choice === 'light' || choice === 'dark') document.documentElement.dataset.theme = choice
  else delete document.documentElement.dataset.theme
  const dark = choice === 'dark' || (choice !== 'light' && systemDark())
  // A toggle: its name stays, its state says whether the dark theme is on.
  $('theme').setAttribute('aria-pressed', String(dark))
  document.documentElement.dataset.shown = dark ? 'dark' : 'light'
  // The learning curves are an SVG image drawn on the server for one theme: fetch the other one.
  const curves = document.getElementById('curves')
  if (curves?.dataset.base) curves.src = curvesUrl(curves.dataset.base)
}

/** The learning curves' address for the theme now shown, drawn at the width of their box. */
function curvesUrl(base) {
  const width = Math.round(Math.min(2000, Math.max(240, $('run-plots').clientWidth || 640)))
  return `${base}&theme=${document.documentElement.dataset.shown}&width=${width}`
}

$('theme').addEventListener('click', () => {
  const next = document.documentElement.dataset.shown === 'dark' ? 'light' : 'dark'
  // Back to following the system when the choice matches it.
  if ((next === 'dark') === systemDark()) localStorage.removeItem(THEME_KEY)
  else localStorage.setItem(THEME_KEY, next)
  applyTheme(localStorage.getItem(THEME_KEY))
})
window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => applyTheme(localStorage.getItem(THEME_KEY)))
applyTheme(localStorage.getItem(THEME_KEY))

// ---------------------------------------------------------- model names

/** Run names of the checkpoints the page has seen served, by checkpoint id. */
const modelNames = new Map()
let served = {checkpoint_id: null, name: null}

/** The run folder of a checkpoint path: the name a person gave the model. */
function runOfPath(path) {
  const parts = String(path ?? '')
    .split(/[\\/]/)
    .filter(Boolean)
  return parts.length >= 2 ? parts.at(-2) : (parts[0] ?? null)
}

function modelName(checkpointId) {
  if (checkpointId === null || checkpointId === undefined) return 'no model'
  return modelNames.get(checkpointId) ?? `an earlier model (${checkpointId.slice(0, 6)})`
}

function learnModel(info, name) {
  if (!info?.loaded || !info.checkpoint_id) return
  modelNames.set(info.checkpoint_id, name ?? runOfPath(info.checkpoint_path))
}

// ------------------------------------------------------------------ health

async function refreshHealth() {
  let health
  try {
    const response = await fetch('/api/health')
    health = await response.json()
  } catch {
    setOnline(false)
    return undefined
  }

  classes = health.classes ?? []
  $('digits').textContent = classes.length === 0 ? 'No model loaded' : `Knows the digits ${listWords(classes)}`
  $('predict-title').textContent = classes.length === 0 || classes.length === DIGITS.length ? 'Draw a digit' : `Draw ${aClassPhrase(classes)}`
  learnModel(health.model)
  served = {checkpoint_id: health.model.checkpoint_id, name: health.model.loaded ? modelName(health.model.checkpoint_id) : null}
  $('health').textContent = health.model.loaded ? `Answering with ${served.name}` : 'No model is answering yet: choose one under "Training runs" or train one'
  $('health').dataset.loaded = String(health.model.loaded)
  const store = health.store.available ? `history in ${health.store.kind}` : 'the prediction history is unavailable right now'
  $('about').textContent =
    `digit-classification v${health.package_version} · TensorFlow.js ${health.tfjs_version}${health.model.backend ? ` on ${health.model.backend}` : ''} · ${store}${health.model.checkpoint_id ? ` · checkpoint ${health.model.checkpoint_id}` : ''}`
  setOnline(true)
  return health
}

// ---------------------------------------------------------------- drawing

const pad = $('pad')
const ctx = pad.getContext('2d')
let inverted = false
let drawing = false
let dirty = false
/** Bumped by every change to the drawing: a prediction belongs to one version of it. */
let version = 0

const paper = () => (inverted ? '#fff' : '#000')
const ink = () => (inverted ? '#000' : '#fff')

function clearPad() {
  ctx.fillStyle = paper()
  ctx.fillRect(0, 0, pad.width, pad.height)
  dirty = false
  version += 1
}

function point(event) {
  const box = pad.getBoundingClientRect()
  return {x: ((event.clientX - box.left) * pad.width) / box.width, y: ((event.clientY - box.top) * pad.height) / box.height}
}

pad.addEventListener('pointerdown', (event) => {
  event.preventDefault()
  drawing = true
  pad.setPointerCapture(event.pointerId)
  const {x, y} = point(event)
  ctx.strokeStyle = ink()
  ctx.fillStyle = ink()
  ctx.lineWidth = Number($('brush').value)
  ctx.lineCap = 'round'
  ctx.lineJoin = 'round'
  ctx.beginPath()
  ctx.arc(x, y, ctx.lineWidth / 2, 0, Math.PI * 2)
  ctx.fill()
  ctx.beginPath()
  ctx.moveTo(x, y)
  dirty = true
  version += 1
})
pad.addEventListener('pointermove', (event) => {
  if (!drawing) return
  const {x, y} = point(event)
  ctx.lineTo(x, y)
  ctx.stroke()
  version += 1
  livePrediction(false)
})
const endStroke = () => {
  if (!drawing) return
  drawing = false
  livePrediction(true)
}

pad.addEventListener('pointerup', endStroke)
pad.addEventListener('pointercancel', endStroke)

$('brush').addEventListener('input', () => {
  $('brush-size').textContent = $('brush').value
})
$('clear').addEventListener('click', () => {
  clearPad()
  hideResult()
  clearInputErrors()
})
$('invert').addEventListener('click', () => {
  // Swap ink and paper on what is already drawn, so the drawing survives the switch.
  const image = ctx.getImageData(0, 0, pad.width, pad.height)
  for (let i = 0; i < image.data.length; i += 4) {
    for (let c = 0; c < 3; c++) image.data[i + c] = 255 - image.data[i + c]
  }

  ctx.putImageData(image, 0, 0)
  inverted = !inverted
  version += 1
  $('invert').setAttribute('aria-pressed', String(inverted))
})

function clearInputErrors() {
  for (const id of ['predict-error', 'upload-error', 'url-error']) showErrorAt(id, '')
}

// ------------------------------------------------------ live prediction

/** While drawing: at most one request in flight, at most every LIVE_INTERVAL_MS; never logged. */
const LIVE_INTERVAL_MS = 250
const live = {inFlight: false, last: 0, again: false}

function livePrediction(final) {
  if (!$('auto').checked || !dirty) return
  if (live.inFlight) {
    live.again = true
    return
  }

  if (!final && performance.now() - live.last < LIVE_INTERVAL_MS) return
  live.inFlight = true
  document.body.dataset.liveBusy = 'true'
  live.again = false
  live.last = performance.now()
  const drawn = version
  postJson('/api/predict', {image: pad.toDataURL('image/png'), source: 'canvas', log: false})
    .then((result) => {
      // A prediction of an older drawing, or one the user has committed since, is not shown.
      if (committed.version === version) return
      showPrediction(result, {live: true, preview: ''})
      // Marks a live answer to an older stroke, still being caught up with.
      $('result').dataset.stale = String(drawn !== version)
      // Screen readers hear the answer once the stroke is done, not every 250 ms while drawing.
      if (!drawing && drawn === version) announce(result)
    })
    .catch((error) => {
      if (!drawing) showErrorAt('predict-error', error)
    })
    .finally(() => {
      live.inFlight = false
      delete document.body.dataset.liveBusy
      if (live.again && !drawing) livePrediction(true)
    })
}

// --------------------------------------------------------------- predict

let lastPrediction
/** The drawing version last logged, so Predict twice on one drawing logs it once. */
const committed = {version: -1, result: undefined}

/** One short sentence for screen readers. */
function announce(result, logged = false) {
  const said = result.known === false ? unknownWords(result).toLowerCase() : `${result.prediction}, ${percent(result.confidence)} sure`
  $('result-summary').textContent = `Answer: ${said}${logged ? `, logged as number ${result.id}` : ''}.`
}

/** The answer panel with nothing to show: the same layout, greyed, with a hint. */
function hideResult() {
  lastPrediction = undefined
  $('result').dataset.kind = 'empty'
  delete $('result').dataset.stale
  delete $('result').dataset.known
  $('result-label').textContent = '–'
  $('result-confidence').textContent = ''
  $('result-model').textContent = ''
  $('result-kind').textContent = ''
  $('result-thumb').removeAttribute('src')
  $('input-figure').hidden = true
  $('input-preview').removeAttribute('src')
  renderBars({})
  renderFeedback(undefined)
}

function renderBars(probs, prediction) {
  // The digits of the model that answered, which may not be the one chosen now.
  const labels = Object.keys(probs).length > 0 ? labelsOf(probs) : classes
  $('bars').replaceChildren(
    ...labels.map((label) => {
      const p = probs[String(label)] ?? 0
      const fill = el('span', {class: 'fill'})
      fill.style.width = `${(p * 100).toFixed(1)}%`
      return el(
        'div',
        {class: label === prediction ? 'bar top' : 'bar', 'data-label': String(label)},
        el('span', {class: 'bar-label', text: String(label)}),
        el('span', {class: 'track', role: 'img', 'aria-label': `probability of ${label}: ${percent(p)}`}, fill),
        el('span', {class: 'bar-value', text: percent(p)}),
      )
    }),
  )
}

/** Feedback belongs to a logged prediction; otherwise the row says how to get one. */
function renderFeedback(result) {
  const logged = result !== undefined && result.id !== null
  $('feedback').dataset.enabled = String(logged)
  $('feedback-question').textContent = !logged
    ? 'Press "Predict and log" to keep an answer and say whether it was right.'
    : result.known === false
      ? 'What was it?'
      : 'Was it right? The digit was:'
  $('feedback-note').textContent = ''
  const labels = logged ? labelsOf(result.probs) : []
  $('feedback-buttons').replaceChildren(
    ...labels.map((label) =>
      el('button', {
        type: 'button',
        'data-label': String(label),
        'aria-label': `the digit was ${label}`,
        'aria-pressed': 'false',
        text: String(label),
        onclick: () => void sendFeedback(result.id, label, 'answer'),
      }),
    ),
    ...(logged ? [otherButton(labels, '', () => void sendFeedback(result.id, OTHER, 'answer'))] : []),
  )
}

/** The feedback button "other": the image was none of the model's digits, or no digit. */
function otherButton(labels, suffix, onclick) {
  return el('button', {
    type: 'button',
    class: 'other',
    'data-label': OTHER,
    'aria-label': `other: ${otherWords(labels)}${suffix}`,
    'aria-pressed': 'false',
    text: OTHER,
    onclick,
  })
}

function showPrediction(result, {live: isLive = false, preview} = {}) {
  lastPrediction = result
  clearInputErrors()
  $('result').dataset.kind = isLive ? 'live' : 'logged'
  // An answer that does not know says so in words; its probabilities still show below.
  const known = result.known !== false
  $('result').dataset.known = String(known)
  $('result-label').textContent = known ? String(result.prediction) : '?'
  $('result-confidence').textContent = known ? `${result.prediction}: ${percent(result.confidence)} sure` : unknownWords(result)
  $('result-model').textContent = `model: ${modelName(result.checkpoint_id)}`
  $('result-kind').textContent = isLive ? 'live answer while you draw (not logged)' : `logged as #${result.id}`
  $('result-thumb').src = safeImage(result.thumbnail)
  // Every answer says which image it is about: an upload shows it, a drawing or an address shows none.
  if (preview !== undefined) {
    $('input-figure').hidden = !preview
    if (preview) $('input-preview').src = preview
    else $('input-preview').removeAttribute('src')
  }

  renderBars(result.probs, result.prediction)
  renderFeedback(isLive ? undefined : result)
}

async function commit(request, preview, errorId) {
  try {
    const result = await request()
    showPrediction(result, {preview})
    announce(result, true)
    void loadHistory()
    return result
  } catch (error) {
    // A failed attempt leaves no earlier answer on screen to be mistaken for this one.
    hideResult()
    showErrorAt(errorId, error)
    return undefined
  }
}

async function predictCanvas() {
  if (!dirty) {
    hideResult()
    showErrorAt('predict-error', 'Draw a digit first.')
    return
  }

  if (committed.version === version && committed.result) {
    showPrediction(committed.result, {preview: ''})
    $('result-kind').textContent = `already logged as #${committed.result.id}; draw something new to log another`
    return
  }

  const drawn = version
  $('predict-button').setAttribute('aria-busy', 'true')
  const result = await commit(() => postJson('/api/predict', {image: pad.toDataURL('image/png'), source: 'canvas'}), '', 'predict-error')
  $('predict-button').removeAttribute('aria-busy')
  if (result) Object.assign(committed, {version: drawn, result})
}

$('predict-button').addEventListener('click', () => void predictCanvas())
$('upload').addEventListener('change', async () => {
  const file = $('upload').files[0]
  if (!file) return
  const form = new FormData()
  form.append('image', file)
  const preview = URL.createObjectURL(file)
  await commit(() => api('/api/predict', {method: 'POST', body: form}), preview, 'upload-error')
  $('upload').value = ''
})
$('url-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  const url = $('url-input').value.trim()
  if (!url) {
    hideResult()
    showErrorAt('url-error', 'Give the address of an image first.')
    return
  }

  $('url-button').disabled = true
  $('url-button').setAttribute('aria-busy', 'true')
  await commit(() => postJson('/api/predict', {url}), '', 'url-error')
  $('url-button').disabled = false
  $('url-button').removeAttribute('aria-busy')
})

/** Record the true digit; `where` is the panel the button is in, so the error shows there. */
async function sendFeedback(id, label, where) {
  try {
    await postJson('/api/feedback', {id, label})
    if (lastPrediction?.id === id) {
      for (const button of $('feedback-buttons').children) button.setAttribute('aria-pressed', String(button.dataset.label === String(label)))
      $('feedback-note').textContent =
        label === OTHER
          ? `Thanks: marked as ${otherWords(labelsOf(lastPrediction.probs))}.`
          : label === lastPrediction.prediction
            ? 'Thanks: marked correct.'
            : `Thanks: marked as a ${label}.`
    }

    await loadHistory()
  } catch (error) {
    if (where === 'answer') $('feedback-note').textContent = error.message
    else $('history-count').textContent = error.message
  }
}

// --------------------------------------------------------------- history

const history = {offset: 0, limit: 10, total: 0}

async function loadHistory() {
  const filters = new FormData($('history-filters'))
  const query = new URLSearchParams({limit: String(history.limit), offset: String(history.offset), feedback: filters.get('feedback')})
  if (filters.get('predicted')) query.set('predicted', filters.get('predicted'))
  const filtered = filters.get('predicted') !== '' || filters.get('feedback') !== 'any'
  // A rebuilt table keeps the keyboard where it was: on the same button of the same prediction.
  const focused = document.activeElement?.closest?.('#history-rows tr[data-id]')
    ? {id: document.activeElement.closest('tr').dataset.id, label: document.activeElement.dataset.label}
    : undefined
  $('history-rows').setAttribute('aria-busy', 'true')
  try {
    const page = await api(`/api/history?${query}`)
    history.total = page.total
    $('history-count').textContent =
      page.total === 0
        ? filtered
          ? 'no prediction matches these filters'
          : 'nothing logged yet'
        : `${page.offset + 1}–${page.offset + page.items.length} of ${page.total}`
    $('history-rows').replaceChildren(...page.items.map(historyRow))
    $('history-prev').disabled = history.offset === 0
    $('history-next').disabled = history.offset + history.limit >= history.total
    if (focused) {
      const again = $('history-rows').querySelector(`tr[data-id="${CSS.escape(focused.id)}"] button[data-label="${CSS.escape(focused.label ?? '')}"]`)
      again?.focus()
    }
  } catch (error) {
    // Rows that may not match the filters shown are not left on screen.
    $('history-rows').replaceChildren()
    $('history-count').textContent = error.code === 'offline' ? 'The history cannot be shown while the server is unreachable.' : error.message
  } finally {
    $('history-rows').removeAttribute('aria-busy')
  }
}

function historyRow(record) {
  const verdict = record.feedback === null ? '' : record.feedback === record.predicted ? 'correct' : 'wrong'
  // A row's digits are its own model's.
  const labels = labelsOf(record.probs)
  const buttons = labels.map((label) =>
    el('button', {
      type: 'button',
      class: record.feedback === label ? 'chosen' : '',
      'data-label': String(label),
      'aria-pressed': String(record.feedback === label),
      'aria-label': `the digit was ${label} (prediction ${record.id})`,
      text: String(label),
      onclick: () => void sendFeedback(record.id, label, 'history'),
    }),
  )
  const other = otherButton(labels, ` (prediction ${record.id})`, () => void sendFeedback(record.id, OTHER, 'history'))
  if (record.feedback === OTHER) {
    other.classList.add('chosen')
    other.setAttribute('aria-pressed', 'true')
  }

  buttons.push(other)
  const words = {correct: '✓ right', wrong: record.feedback === OTHER ? `✗ wrong, was ${otherWords(labels)}` : `✗ wrong, was ${record.feedback}`}
  // Whether the answer knew the image (null: logged before the page stored it).
  const unknown = record.known === false ? [el('span', {class: 'unknown', text: record.reason === 'no digit' ? 'no digit' : 'did not know'})] : []
  return el(
    'tr',
    {class: verdict, 'data-id': String(record.id), 'data-known': String(record.known)},
    el('td', {class: 'wide-only', text: String(record.id)}),
    el('td', {}, el('img', {src: safeImage(record.thumbnail), alt: `input of prediction ${record.id}`, width: '28', height: '28', class: 'thumb'})),
    el('td', {class: 'wide-only', text: time(record.created_at)}),
    el('td', {class: 'digit-cell', text: String(record.predicted)}),
    el('td', {}, percent(record.confidence), ...unknown),
    el('td', {class: 'wide-only', text: modelName(record.checkpoint_id)}),
    el('td', {class: 'feedback-cell'}, ...(verdict ? [el('span', {class: 'verdict', text: words[verdict]})] : []), ...buttons),
  )
}

$('history-filters').addEventListener('change', () => {
  history.offset = 0
  void loadHistory()
})
$('history-prev').addEventListener('click', () => {
  history.offset = Math.max(0, history.offset - history.limit)
  void loadHistory()
})
$('history-next').addEventListener('click', () => {
  history.offset += history.limit
  void loadHistory()
})

// ------------------------------------------------------------------ runs

let selectedRun

/** One word per state of a run, the same everywhere on the page. */
const STATE_WORDS = {finished: 'finished', training: 'training', cancelled: 'cancelled', failed: 'failed', incomplete: 'did not finish'}

function badges(run) {
  const list = [el('span', {class: `badge ${run.state}`, text: STATE_WORDS[run.state] ?? run.state})]
  if (run.active) list.push(el('span', {class: 'badge active', text: 'answering'}))
  return list
}

async function loadRuns() {
  try {
    const {runs} = await api('/api/runs')
    $('runs-empty').hidden = runs.length > 0
    $('runs-empty').textContent = 'No runs yet: train one below.'
    const active = runs.find((run) => run.active)
    if (active && served.checkpoint_id) {
      modelNames.set(served.checkpoint_id, active.run_name)
      served.name = active.run_name
      $('health').textContent = `Answering with ${active.run_name}`
    }

    $('run-rows').replaceChildren(
      ...runs.map((run) =>
        el(
          'tr',
          {class: run.name === selectedRun ? 'selected' : '', 'data-run': run.name},
          el('td', {}, el('button', {type: 'button', class: 'link', text: run.run_name, onclick: () => void showRun(run.name, true)})),
          el('td', {text: run.model ?? '–'}),
          el('td', {class: 'nowrap', text: run.classes ? run.classes.join('·') : '–'}),
          el('td', {text: run.eval_f1_macro === null ? '–' : fixed(run.eval_f1_macro)}),
          el('td', {}, ...badges(run)),
        ),
      ),
    )
    void renderModelChoices(runs)
  } catch (error) {
    $('run-rows').replaceChildren()
    $('runs-empty').hidden = false
    $('runs-empty').textContent = error.code === 'offline' ? 'The runs cannot be shown while the server is unreachable.' : error.message
  }
}

const digitsText = (list) => (list ? ` · ${list.length === DIGITS.length ? 'digits 0–9' : `digits ${list.join(', ')}`}` : '')

/** The model switch: the models the server has loaded (as given to serve), then the runs' models. */
async function renderModelChoices(runs) {
  const select = $('model-select')
  const {models} = await api('/api/models').catch(() => ({models: []}))
  const usable = runs.filter((run) => run.has_checkpoint)
  const active = usable.find((run) => run.active)
  const options = models
    .filter((model) => !(active && model.current))
    .map((model) =>
      el('option', {
        value: `model:${model.checkpoint_id}`,
        text: `${modelNames.get(model.checkpoint_id) ?? model.checkpoint_path.split(/[\\/]/).slice(-2).join('/')}${digitsText(model.classes)}`,
      }),
    )
  options.push(
    ...usable.map((run) =>
      el('option', {
        value: `run:${run.name}`,
        text: `${run.run_name}${digitsText(run.classes)}${run.eval_f1_macro === null ? '' : ` (eval macro-F1 ${fixed(run.eval_f1_macro, 3)})`}`,
      }),
    ),
  )
  const current = models.find((model) => model.current)
  if (options.length === 0) options.push(el('option', {value: '', text: 'none loaded'}))
  select.replaceChildren(...options)
  select.value = active ? `run:${active.name}` : current ? `model:${current.checkpoint_id}` : ''
}

/** Serve a run's model. */
async function activate(name) {
  const {model} = await api(`/api/runs/${encodeURIComponent(name)}/activate`, {method: 'POST'})
  const run = [...$('run-rows').children].find((row) => row.dataset.run === name)
  learnModel(model, run?.querySelector('button')?.textContent ?? name)
  await refreshHealth()
  await loadRuns()
  return model
}

$('model-select').addEventListener('change', async () => {
  const choice = $('model-select').value
  if (!choice) return
  const [kind, name] = [choice.slice(0, choice.indexOf(':')), choice.slice(choice.indexOf(':') + 1)]
  showErrorAt('model-error', '')
  try {
    if (kind === 'run') {
      await activate(name)
    } else {
      await api(`/api/models/${encodeURIComponent(name)}/activate`, {method: 'POST'})
      hideResult()
      await refreshHealth()
      await loadRuns()
    }
  } catch (error) {
    showErrorAt('model-error', error)
  }
})

async function showRun(name, focus = false) {
  selectedRun = name
  let run
  try {
    run = await api(`/api/runs/${encodeURIComponent(name)}`)
  } catch (error) {
    $('run-detail').hidden = false
    $('run-note').textContent = error.message
    return
  }

  $('run-detail').hidden = false
  $('run-name').replaceChildren(run.metadata?.run_name ?? run.name, ' ', ...badges(run))
  $('run-note').textContent = run.error ?? ''
  $('run-activate').disabled = run.checkpoint === null || run.active
  $('run-activate').textContent = run.active ? 'Answering predictions now' : 'Predict with this model'
  $('run-problems').replaceChildren(...run.problems.map((p) => el('li', {text: `${p.file}: ${p.problem}`})))
  renderMetrics(run.metrics)
  const plots = []
  if (run.loss_curves) {
    const base = `/api/runs/${encodeURIComponent(run.name)}/curves.svg?v=${Date.parse(run.modified_at)}`
    plots.push(
      el(
        'figure',
        {},
        el('img', {
          src: '',
          'data-base': base,
          class: 'curves',
          alt: `learning curves of ${run.metadata?.run_name ?? run.name}: loss, validation balanced accuracy and macro-F1 per epoch`,
          id: 'curves',
        }),
        el('figcaption', {text: `learning curves (from ${run.loss_curves_source})`}),
      ),
    )
  }

  const confusion = confusionTable(run.metrics)
  if (confusion) plots.push(confusion)
  for (const [file, url] of Object.entries(run.images)) {
    // The confusion matrix is the table above: its numbers, readable and in the page's colours.
    if (file === 'confusion_matrix.png' && confusion) continue
    plots.push(el('figure', {}, el('img', {src: url, class: 'raster', alt: file.replace(/_/g, ' ').replace('.png', '')}), el('figcaption', {text: file})))
  }

  $('run-plots').replaceChildren(...plots)
  const curves = document.getElementById('curves')
  if (curves) curves.src = curvesUrl(curves.dataset.base)
  for (const row of $('run-rows').children) row.classList.toggle('selected', row.dataset.run === name)
  if (focus) $('run-name').focus()
}

/** The evaluation split's confusion matrix as a table: true digit by row, predicted digit by column. */
function confusionTable(metrics) {
  const report = metrics?.classification_report
  if (!report?.confusion_matrix) return undefined
  const labels = report.labels
  const head = el('tr', {}, el('th', {scope: 'col', text: 'true ↓ / predicted →'}), ...labels.map((label) => el('th', {scope: 'col', text: String(label)})))
  const rows = report.confusion_matrix.map((counts, i) =>
    el(
      'tr',
      {},
      el('th', {scope: 'row', text: String(labels[i])}),
      ...counts.map((count, j) => el('td', {class: i === j ? 'diagonal' : '', text: String(count)})),
    ),
  )
  return el(
    'div',
    {class: 'table-wrap', id: 'confusion'},
    el('table', {class: 'confusion'}, el('caption', {text: 'confusion matrix (evaluation split)'}), head, ...rows),
  )
}

function renderMetrics(metrics) {
  const table = $('run-metrics')
  if (!metrics) {
    table.replaceChildren(el('caption', {text: 'no results yet: the run has not exported metrics.json'}))
    return
  }

  // On a phone the table keeps the scores; samples and loss are for wider screens.
  const wide = new Set(['samples', 'loss'])
  const head = el(
    'tr',
    {},
    ...['split', 'samples', 'loss', 'accuracy', 'macro acc.', 'macro-F1'].map((h) => el('th', {text: h, scope: 'col', class: wide.has(h) ? 'wide-only' : ''})),
  )
  const rows = Object.entries(metrics.splits).map(([split, m]) =>
    el(
      'tr',
      {},
      el('td', {text: split}),
      el('td', {class: 'wide-only', text: String(m.samples)}),
      el('td', {class: 'wide-only', text: fixed(m.loss, 3)}),
      el('td', {text: fixed(m.accuracy)}),
      el('td', {text: fixed(m.balanced_accuracy)}),
      el('td', {text: fixed(m.f1_macro)}),
    ),
  )
  table.replaceChildren(el('caption', {text: `${metrics.num_epochs} epochs, best epoch ${metrics.best_epoch}`}), head, ...rows)
}

$('run-activate').addEventListener('click', async () => {
  if (!selectedRun) return
  try {
    await activate(selectedRun)
    await showRun(selectedRun)
    $('run-note').textContent = `now answering with ${served.name}`
  } catch (error) {
    $('run-note').textContent = error.message
  }
})

// -------------------------------------------------------------- training

let plannedEpochs = 0
/** The epoch table's columns after the epoch number, as GET /api/env describes them (name, label, notation, wide). */
let epochColumns = []
/** The server can train (it has MNIST files); until it says so, Start stays disabled. */
let canTrain = false

function renderStatus(status) {
  const activation = status.activation
  const what = {
    idle: 'idle',
    running: `training ${status.run_name}…`,
    finished: `finished ${status.run_name}`,
    failed: `${status.run_name ?? 'the run'} stopped with an error; the log below says why`,
    cancelled: `cancelled ${status.run_name}`,
  }[status.state]
  $('train-state').textContent = what
  $('train-state').dataset.state = status.state
  $('train-start').disabled = status.state === 'running' || !canTrain
  $('train-cancel').disabled = status.state !== 'running'
  $('train-epochs').replaceChildren(...status.history.map(epochRow))
  setLog(status.log.concat(status.state === 'failed' && status.error ? [status.error] : []))
  plannedEpochs = status.epochs ?? plannedEpochs
  if (status.state === 'running' && status.current) renderBatch(status.current)
  // A new run starts its bar from nothing, not where the last one stopped.
  else if (status.state === 'running') $('train-progress').value = 0
  if (status.state === 'finished') {
    $('train-progress').value = $('train-progress').max
    if (status.model) learnModel(status.model, status.run_name)
    if (activation)
      $('train-state').textContent += activation.activated
        ? ` · now answering predictions (${activation.reason})`
        : ` · the model answering did not change (${activation.reason})`
    void refreshHealth()
  }

  if (status.state !== 'idle') void loadRuns()
}

function renderBatch(info) {
  const progress = $('train-progress')
  progress.max = Math.max(1, plannedEpochs * info.batches)
  progress.value = (info.epoch - 1) * info.batches + info.batch
  $('train-state').textContent = `training: epoch ${info.epoch}/${plannedEpochs}, batch ${info.batch}/${info.batches}, loss ${info.loss.toFixed(4)}`
}

/** A value in a column's notation: `{fixed: 4}` or `{exponential: 1}`. */
function inNotation(value, notation) {
  if (typeof value !== 'number') return '–'
  return 'fixed' in notation ? value.toFixed(notation.fixed) : value.toExponential(notation.exponential)
}

function showEpochColumns(columns) {
  epochColumns = columns
  const head = columns.map((column) => el('th', {text: column.label, title: column.description, ...(column.wide ? {class: 'wide-only'} : {})}))
  $('epochs-head').replaceChildren(el('th', {text: 'Epoch'}), ...head)
}

function epochRow(log) {
  const cells = epochColumns.map((column) => el('td', {text: inNotation(log[column.name], column.notation), ...(column.wide ? {class: 'wide-only'} : {})}))
  return el('tr', {}, el('td', {text: String(log.epoch)}), ...cells)
}

/** The log follows its end, unless the reader has scrolled up to read. */
function setLog(lines, append = false) {
  const log = $('train-log')
  const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 24
  if (append) log.textContent = `${log.textContent}${log.textContent ? '\n' : ''}${lines.join('\n')}`
  else log.textContent = lines.join('\n')
  if (atEnd || !append) log.scrollTop = log.scrollHeight
}

function listenToTraining() {
  const events = new EventSource('/api/train/events')
  events.addEventListener('open', () => setOnline(true))
  events.addEventListener('error', () => {
    if (events.readyState !== EventSource.OPEN) void refreshHealth()
  })
  events.addEventListener('status', (event) => renderStatus(JSON.parse(event.data)))
  events.addEventListener('batch', (event) => renderBatch(JSON.parse(event.data)))
  events.addEventListener('epoch', (event) => {
    $('train-epochs').append(epochRow(JSON.parse(event.data)))
    void loadRuns()
  })
  events.addEventListener('log', (event) => setLog([JSON.parse(event.data).line], true))
}

function clearTrainErrors() {
  showErrorAt('train-error', '')
  for (const field of Object.keys(FIELD_NAMES)) {
    const node = document.getElementById(`error-${field}`)
    if (node) showErrorAt(node.id, '')
    $('train-form').elements[field]?.removeAttribute('aria-invalid')
  }
}

$('train-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  if (!canTrain) return
  clearTrainErrors()
  const form = new FormData($('train-form'))
  const body = {}
  for (const [key, value] of form.entries()) {
    if (value === '') continue
    body[key] = key === 'epochs' || key === 'seed' ? Number(value) : value
  }

  $('train-start').setAttribute('aria-busy', 'true')
  try {
    renderStatus(await postJson('/api/train', body))
  } catch (error) {
    // The error goes next to the field that caused it, when there is one.
    const field = error.field ?? (error.code === 'run-exists' ? 'run-name' : null)
    const slot = field && document.getElementById(`error-${field}`)
    if (slot) {
      showErrorAt(slot.id, error)
      $('train-form').elements[field].setAttribute('aria-invalid', 'true')
      $('train-form').elements[field].focus()
    } else {
      showErrorAt('train-error', error)
    }
  } finally {
    $('train-start').removeAttribute('aria-busy')
  }
})
$('train-cancel').addEventListener('click', async () => {
  $('train-cancel').disabled = true
  try {
    await api('/api/train/cancel', {method: 'POST'})
    $('train-state').textContent = 'cancelling: the run stops after its current batch…'
  } catch (error) {
    showErrorAt('train-error', error)
  }
})

/** Start the training form with class counts the served data can supply; without data, training is off. */
async function fitTrainingForm() {
  try {
    const env = await api('/api/env')
    showEpochColumns(env.epoch_columns)
    const field = $('train-form').elements['class-counts']
    const {data} = env
    if (!data.class_counts) {
      canTrain = false
      $('train-data').textContent = 'The server has no MNIST files, so training from the page is not available.'
      $('train-start').disabled = true
      return
    }

    canTrain = true
    if ($('train-state').dataset.state !== 'running') $('train-start').disabled = false
    const {training_defaults: defaults} = env
    $('train-form').elements.classes.placeholder = `the default: ${defaults.classes}, or e.g. 0-9`
    field.placeholder = `the full subset: ${defaults.class_counts}, or all`
    const available = DIGITS.map((label) => `${data.class_counts[label]} × ${label}`).join(', ')
    $('train-data').textContent = `The data holds ${available}.`
    exampleCounts = data.suggested_class_counts ?? undefined
    if (data.suggested_class_counts && data.suggested_class_counts !== defaults.class_counts && !field.value) field.value = data.suggested_class_counts
  } catch {
    // Training stays off until the server answers.
    $('train-start').disabled = true
  }
}

// ----------------------------------------------------------------- start

let filtersFilled = false

async function refreshAll() {
  await refreshHealth()
  if (!online) return
  if (!filtersFilled) {
    const select = $('history-filters').elements.predicted
    for (const label of DIGITS) select.append(el('option', {value: String(label), text: String(label)}))
    filtersFilled = true
  }

  if (!lastPrediction) hideResult()
  await Promise.all([loadRuns(), fitTrainingForm()])
  await loadHistory()
}

async function start() {
  clearPad()
  $('train-start').disabled = true
  hideResult()
  await refreshAll()
  listenToTraining()
  document.body.dataset.ready = 'true'
}

void start()
