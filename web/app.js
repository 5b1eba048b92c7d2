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

/**
 * The API speaks to every client; the page says the same things in its own
 * words (its buttons and fields, not command-line flags).
 */
function pageWords(message) {
  return message
    .replace(/start serve with --checkpoint-path FILE, or train a model from the page and wait for it to finish/, 'choose a model above, or train one below and wait for it to finish')
    .replace(/restart serve with --data-dir pointing at them/, 'the server was started without MNIST files')
    .replaceAll('--class-counts', 'Class counts')
    .replaceAll('--epochs', 'Epochs')
    .replaceAll('--run-name', 'Run name')
    .replaceAll('run-name', 'Run name')
    .replaceAll('--seed', 'Seed')
    .replace(/ \(serve --allow-private-urls allows them\)/, '')
}

async function api(path, options = {}) {
  const response = await fetch(path, options)
  const body = await response.json().catch(() => ({error: `${response.status} ${response.statusText}`}))
  if (!response.ok) {
    const error = new Error(pageWords(body.error ?? `${response.status} ${response.statusText}`))
    error.status = response.status
    throw error
  }

  return body
}

const postJson = (path, body) => api(path, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)})
const percent = (x) => `${(x * 100).toFixed(1)}%`
const fixed = (x, digits = 4) => (typeof x === 'number' ? x.toFixed(digits) : '–')
const time = (iso) => new Date(iso).toLocaleString(undefined, {dateStyle: 'short', timeStyle: 'medium'})
/** Only PNG data URIs made by the server are shown as images. */
const safeImage = (uri) => (typeof uri === 'string' && uri.startsWith('data:image/png;base64,') ? uri : '')

/** The digits of the model answering predictions (from the server; empty while none is loaded). */
let classes = []
/** Every digit: the history can hold predictions of models that know different ones. */
const DIGITS = Array.from({length: 10}, (_, digit) => digit)

/** "2, 4 or 6": how the page names the digits of a model. */
function classPhrase(list) {
  return list.length === 1 ? String(list[0]) : `${list.slice(0, -1).join(', ')} or ${list.at(-1)}`
}

/** A model's digits in logit order: the keys of its probabilities. */
function labelsOf(probs) {
  return Object.keys(probs).map(Number).sort((a, b) => a - b)
}

/** The page says what the model answering predictions knows. */
function renderClasses() {
  $('classes-label').textContent = classes.join(' · ')
  $('predict-title').textContent = classes.length === 0 || classes.length === DIGITS.length ? 'Draw a digit' : `Draw a ${classPhrase(classes)}`
}

// ------------------------------------------------------------------ theme

const THEME_KEY = 'digit-classification-theme'

function systemDark() {
  return window.matchMedia('(prefers-color-scheme: dark)').matches
}

function applyTheme(choice) {
  if (choice === 'light' || choice === 'dark') document.documentElement.dataset.theme = choice
  else delete document.documentElement.dataset.theme
  const dark = choice === 'dark' || (choice !== 'light' && systemDark())
  $('theme').textContent = dark ? 'Light theme' : 'Dark theme'
  $('theme').setAttribute('aria-pressed', 'false')
  $('theme').dataset.current = dark ? 'dark' : 'light'
  // The learning curves are an SVG image drawn on the server for one theme: fetch the other one.
  const curves = document.getElementById('curves')
  if (curves?.dataset.base) curves.src = curvesUrl(curves.dataset.base)
}

/** The learning curves' address for the theme now shown. */
function curvesUrl(base) {
  return `${base}&theme=${$('theme').dataset.current === 'dark' ? 'dark' : 'light'}`
}

$('theme').addEventListener('click', () => {
  const next = $('theme').dataset.current === 'dark' ? 'light' : 'dark'
  // Back to following the system when the choice matches it.
  if ((next === 'dark') === systemDark()) localStorage.removeItem(THEME_KEY)
  else localStorage.setItem(THEME_KEY, next)
  applyTheme(localStorage.getItem(THEME_KEY))
})
window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => applyTheme(localStorage.getItem(THEME_KEY)))
applyTheme(localStorage.getItem(THEME_KEY))

// ------------------------------------------------------------------ health

async function refreshHealth() {
  try {
    const response = await fetch('/api/health')
    const health = await response.json()
    classes = health.classes ?? []
    renderClasses()
    const model = health.model.loaded ? `model ${health.model.checkpointId} on ${health.model.backend}` : 'no model loaded (choose one or train one)'
    const store = health.store.available ? `history in ${health.store.kind}` : 'the prediction history is unavailable right now'
    $('health').textContent = `${model} · tfjs ${health.tfjsVersion} · v${health.packageVersion} · ${store}`
    $('health').dataset.loaded = String(health.model.loaded)
    return health
  } catch (error) {
    $('health').textContent = `the server cannot be reached (${error.message})`
    return undefined
  }
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
  showError('')
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
      showPrediction(result, {live: true})
      // Marks a live answer to an older stroke, still being caught up with.
      $('result').dataset.stale = String(drawn !== version)
    })
    .catch((error) => {
      if (!drawing) showError(error.message)
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

function showError(message) {
  $('predict-error').textContent = message
  $('predict-error').hidden = !message
}

function hideResult() {
  $('result').hidden = true
  lastPrediction = undefined
}

function showPrediction(result, {live: isLive = false, preview} = {}) {
  lastPrediction = result
  showError('')
  $('result').hidden = false
  $('result-label').textContent = String(result.prediction)
  $('result-confidence').textContent = `${percent(result.confidence)} sure · model ${result.checkpointId}`
  $('result-kind').textContent = isLive ? 'live prediction while you draw (not logged: press "Predict and log" to keep it)' : `logged as #${result.id}`
  $('result').dataset.kind = isLive ? 'live' : 'logged'
  $('result-thumb').src = safeImage(result.thumbnail)
  if (preview !== undefined) {
    $('input-figure').hidden = !preview
    if (preview) $('input-preview').src = preview
  }

  // The digits of the model that answered, which may not be the one chosen now.
  const labels = labelsOf(result.probs)
  const bars = $('bars')
  bars.replaceChildren(
    ...labels.map((label) => {
      const p = result.probs[String(label)] ?? 0
      const fill = el('span', {class: 'fill'})
      fill.style.width = percent(p)
      return el(
        'div',
        {class: label === result.prediction ? 'bar top' : 'bar', 'data-label': String(label)},
        el('span', {class: 'bar-label', text: String(label)}),
        el('span', {class: 'track', role: 'img', 'aria-label': `probability of ${label}: ${percent(p)}`}, fill),
        el('span', {class: 'bar-value', text: percent(p)}),
      )
    }),
  )
  // Feedback belongs to a logged prediction only.
  $('feedback').hidden = isLive || result.id === null
  $('feedback-note').textContent = ''
  $('feedback-buttons').replaceChildren(
    ...labels.map((label) =>
      el('button', {
        type: 'button',
        'data-label': String(label),
        'aria-label': `the digit was ${label}`,
        'aria-pressed': 'false',
        text: String(label),
        onclick: () => sendFeedback(result.id, label),
      }),
    ),
  )
}

async function commit(request, preview) {
  try {
    const result = await request()
    showPrediction(result, {preview})
    void loadHistory()
    return result
  } catch (error) {
    // A failed attempt leaves no earlier answer on screen to be mistaken for this one.
    hideResult()
    showError(error.message)
    return undefined
  }
}

async function predictCanvas() {
  if (!dirty) {
    hideResult()
    showError('Draw a digit first.')
    return
  }

  if (committed.version === version && committed.result) {
    showPrediction(committed.result, {preview: ''})
    $('result-kind').textContent = `already logged as #${committed.result.id}; draw something new to log another`
    return
  }

  const drawn = version
  const result = await commit(() => postJson('/api/predict', {image: pad.toDataURL('image/png'), source: 'canvas'}), '')
  if (result) Object.assign(committed, {version: drawn, result})
}

$('predict-button').addEventListener('click', () => void predictCanvas())
$('upload').addEventListener('change', async () => {
  const file = $('upload').files[0]
  if (!file) return
  const form = new FormData()
  form.append('image', file)
  const preview = URL.createObjectURL(file)
  await commit(() => api('/api/predict', {method: 'POST', body: form}), preview)
  $('upload').value = ''
})
$('url-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  const url = $('url-input').value.trim()
  if (!url) {
    hideResult()
    showError('Give the address of an image first.')
    return
  }

  $('url-button').disabled = true
  await commit(() => postJson('/api/predict', {url}), '')
  $('url-button').disabled = false
})

async function sendFeedback(id, label) {
  try {
    await postJson('/api/feedback', {id, label})
    if (lastPrediction?.id === id) {
      for (const button of $('feedback-buttons').children) button.setAttribute('aria-pressed', String(button.dataset.label === String(label)))
      $('feedback-note').textContent = label === lastPrediction.prediction ? 'Thanks: marked correct.' : `Thanks: marked as a ${label}.`
    }

    void loadHistory()
  } catch (error) {
    showError(error.message)
  }
}

// --------------------------------------------------------------- history

const history = {offset: 0, limit: 10, total: 0}

async function loadHistory() {
  const filters = new FormData($('history-filters'))
  const query = new URLSearchParams({limit: String(history.limit), offset: String(history.offset), feedback: filters.get('feedback')})
  if (filters.get('predicted')) query.set('predicted', filters.get('predicted'))
  const filtered = filters.get('predicted') !== '' || filters.get('feedback') !== 'any'
  try {
    const page = await api(`/api/history?${query}`)
    history.total = page.total
    $('history-count').textContent =
      page.total === 0 ? (filtered ? 'no prediction matches these filters' : 'nothing logged yet') : `${page.offset + 1}–${page.offset + page.items.length} of ${page.total}`
    $('history-rows').replaceChildren(...page.items.map(historyRow))
    $('history-prev').disabled = history.offset === 0
    $('history-next').disabled = history.offset + history.limit >= history.total
  } catch (error) {
    $('history-count').textContent = error.message
  }
}

function historyRow(record) {
  const verdict = record.feedback === null ? '' : record.feedback === record.predicted ? 'correct' : 'wrong'
  const buttons = labelsOf(record.probs).map((label) =>
    el('button', {
      type: 'button',
      class: record.feedback === label ? 'chosen' : '',
      'data-label': String(label),
      'aria-pressed': String(record.feedback === label),
      'aria-label': `the digit was ${label} (prediction ${record.id})`,
      text: String(label),
      onclick: () => sendFeedback(record.id, label),
    }),
  )
  return el(
    'tr',
    {class: verdict, 'data-id': String(record.id)},
    el('td', {text: String(record.id)}),
    el('td', {}, el('img', {src: safeImage(record.thumbnail), alt: `input of prediction ${record.id}`, width: '28', height: '28', class: 'thumb'})),
    el('td', {text: time(record.createdAt)}),
    el('td', {class: 'digit-cell', text: String(record.predicted)}),
    el('td', {text: percent(record.confidence)}),
    el('td', {class: 'mono', text: record.checkpointId}),
    el('td', {class: 'feedback-cell'}, ...buttons),
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

const STATE_WORDS = {finished: 'finished', training: 'training', cancelled: 'cancelled', incomplete: 'stopped early'}

function badges(run) {
  const list = [el('span', {class: `badge ${run.state}`, text: STATE_WORDS[run.state] ?? run.state})]
  if (run.active) list.push(el('span', {class: 'badge active', text: 'answering predictions'}))
  return list
}

async function loadRuns() {
  try {
    const {runs} = await api('/api/runs')
    $('runs-empty').hidden = runs.length > 0
    $('run-rows').replaceChildren(
      ...runs.map((run) =>
        el(
          'tr',
          {class: run.name === selectedRun ? 'selected' : '', 'data-run': run.name},
          el('td', {}, el('button', {type: 'button', class: 'link', text: run.runName, onclick: () => void showRun(run.name, true)})),
          el('td', {class: 'row'}, ...badges(run)),
          el('td', {text: run.epochs === null ? '–' : String(run.epochs)}),
          el('td', {text: run.evalAccuracy === null ? '–' : fixed(run.evalAccuracy)}),
          el('td', {text: run.evalF1Macro === null ? '–' : fixed(run.evalF1Macro)}),
          el('td', {text: time(run.modifiedAt)}),
        ),
      ),
    )
    await renderModelChoices(runs)
  } catch (error) {
    $('runs-empty').hidden = false
    $('runs-empty').textContent = error.message
  }
}

const digitsText = (list) => (list ? ` · ${list.length === DIGITS.length ? 'digits 0–9' : `digits ${list.join(', ')}`}` : '')

/** The model switch: the models the server has loaded (as given to serve), then the runs' models. */
async function renderModelChoices(runs) {
  const select = $('model-select')
  const {models} = await api('/api/models').catch(() => ({models: []}))
  const usable = runs.filter((run) => run.hasCheckpoint)
  const active = usable.find((run) => run.active)
  const options = models
    .filter((model) => !(active && model.current))
    .map((model) => el('option', {value: `model:${model.checkpointId}`, text: `${model.checkpointPath.split(/[\\/]/).slice(-2).join('/')}${digitsText(model.classes)}`}))
  options.push(
    ...usable.map((run) =>
      el('option', {value: `run:${run.name}`, text: `${run.runName}${digitsText(run.classes)}${run.evalF1Macro === null ? '' : ` (eval macro-F1 ${fixed(run.evalF1Macro, 3)})`}`}),
    ),
  )
  const current = models.find((model) => model.current)
  if (options.length === 0) options.push(el('option', {value: '', text: 'none loaded'}))
  select.replaceChildren(...options)
  select.value = active ? `run:${active.name}` : current ? `model:${current.checkpointId}` : ''
}

$('model-select').addEventListener('change', async () => {
  const choice = $('model-select').value
  if (!choice) return
  const [kind, name] = [choice.slice(0, choice.indexOf(':')), choice.slice(choice.indexOf(':') + 1)]
  try {
    await api(kind === 'model' ? `/api/models/${encodeURIComponent(name)}/activate` : `/api/runs/${encodeURIComponent(name)}/activate`, {method: 'POST'})
    hideResult()
    await refreshHealth()
    await loadRuns()
  } catch (error) {
    showError(error.message)
  }
})

async function showRun(name, focus = false) {
  selectedRun = name
  let run
  try {
    run = await api(`/api/runs/${encodeURIComponent(name)}`)
  } catch (error) {
    $('run-note').textContent = error.message
    return
  }

  $('run-detail').hidden = false
  $('run-name').replaceChildren(run.metadata?.run_name ?? run.name, ' ', ...badges(run))
  $('run-note').textContent = ''
  $('run-activate').disabled = run.checkpoint === null || run.active
  $('run-activate').textContent = run.active ? 'Answering predictions now' : 'Predict with this model'
  $('run-problems').replaceChildren(...run.problems.map((p) => el('li', {text: `${p.file}: ${p.problem}`})))
  renderMetrics(run.metrics)
  const plots = []
  if (run.lossCurves) {
    const base = `/api/runs/${encodeURIComponent(run.name)}/curves.svg?v=${Date.parse(run.modifiedAt)}`
    plots.push(el('figure', {}, el('img', {src: curvesUrl(base), 'data-base': base, alt: `learning curves of ${run.name}: loss, validation balanced accuracy and macro-F1 per epoch`, id: 'curves'}), el('figcaption', {text: `learning curves (from ${run.lossCurvesSource})`})))
  }

  for (const [file, url] of Object.entries(run.images)) plots.push(el('figure', {}, el('img', {src: url, alt: file.replace(/_/g, ' ').replace('.png', '')}), el('figcaption', {text: file})))
  $('run-plots').replaceChildren(...plots)
  for (const row of $('run-rows').children) row.classList.toggle('selected', row.dataset.run === name)
  if (focus) $('run-name').focus()
}

function renderMetrics(metrics) {
  const table = $('run-metrics')
  if (!metrics) {
    table.replaceChildren(el('caption', {text: 'no results yet: the run has not exported metrics.json'}))
    return
  }

  const head = el('tr', {}, ...['split', 'samples', 'loss', 'accuracy', 'macro accuracy', 'macro-F1'].map((h) => el('th', {text: h, scope: 'col'})))
  const rows = Object.entries(metrics.splits).map(([split, m]) =>
    el(
      'tr',
      {},
      el('td', {text: split}),
      el('td', {text: String(m.samples)}),
      el('td', {text: fixed(m.loss)}),
      el('td', {text: fixed(m.accuracy)}),
      el('td', {text: fixed(m.macro_accuracy)}),
      el('td', {text: fixed(m.f1_macro)}),
    ),
  )
  table.replaceChildren(el('caption', {text: `${metrics.num_epochs} epochs, best epoch ${metrics.best_epoch}`}), head, ...rows)
}

$('run-activate').addEventListener('click', async () => {
  if (!selectedRun) return
  try {
    const {model} = await api(`/api/runs/${encodeURIComponent(selectedRun)}/activate`, {method: 'POST'})
    $('run-note').textContent = `now predicting with model ${model.checkpointId}`
    await refreshHealth()
    await loadRuns()
    await showRun(selectedRun)
    $('run-note').textContent = `now predicting with model ${model.checkpointId}`
  } catch (error) {
    $('run-note').textContent = error.message
  }
})

// -------------------------------------------------------------- training

let plannedEpochs = 0

function renderStatus(status) {
  const what = {
    idle: 'idle',
    running: `training ${status.runName}…`,
    finished: `finished ${status.runName}`,
    failed: `failed: ${pageWords(status.error ?? '')}`,
    cancelled: `cancelled ${status.runName}`,
  }[status.state]
  $('train-state').textContent = what
  $('train-state').dataset.state = status.state
  $('train-start').disabled = status.state === 'running'
  $('train-cancel').disabled = status.state !== 'running'
  $('train-epochs').replaceChildren(...status.history.map(epochRow))
  $('train-log').textContent = status.log.join('\n')
  plannedEpochs = status.epochs ?? plannedEpochs
  if (status.state === 'running' && status.current) renderBatch(status.current)
  if (status.state === 'finished') {
    $('train-progress').value = $('train-progress').max
    if (status.model) $('train-state').textContent += ` · now predicting with model ${status.model.checkpointId}`
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

function epochRow(log) {
  return el(
    'tr',
    {},
    el('td', {text: String(log.epoch)}),
    el('td', {text: fixed(log.trainLoss)}),
    el('td', {text: fixed(log.valLoss)}),
    el('td', {text: fixed(log.valBalancedAcc)}),
    el('td', {text: fixed(log.valF1Macro)}),
    el('td', {text: log.learningRate.toExponential(1)}),
    el('td', {text: log.epochSeconds.toFixed(1)}),
  )
}

function listenToTraining() {
  const events = new EventSource('/api/train/events')
  events.addEventListener('status', (event) => renderStatus(JSON.parse(event.data)))
  events.addEventListener('batch', (event) => renderBatch(JSON.parse(event.data)))
  events.addEventListener('epoch', (event) => {
    $('train-epochs').append(epochRow(JSON.parse(event.data)))
    void loadRuns()
  })
  events.addEventListener('log', (event) => {
    const log = $('train-log')
    log.textContent = `${log.textContent}${log.textContent ? '\n' : ''}${JSON.parse(event.data).line}`
  })
}

$('train-form').addEventListener('submit', async (event) => {
  event.preventDefault()
  const form = new FormData($('train-form'))
  const body = {}
  for (const [key, value] of form.entries()) {
    if (value === '') continue
    body[key] = key === 'epochs' || key === 'seed' ? Number(value) : value
  }

  try {
    renderStatus(await postJson('/api/train', body))
  } catch (error) {
    $('train-state').textContent = error.message
    $('train-state').dataset.state = 'error'
  }
})
$('train-cancel').addEventListener('click', () => void api('/api/train/cancel', {method: 'POST'}).catch(() => {}))

/** Start the training form with class counts the served data can supply. */
async function fitTrainingForm() {
  try {
    const env = await api('/api/env')
    const field = $('train-form').elements['class-counts']
    const {data} = env
    if (!data.classCounts) {
      $('train-data').textContent = 'The server has no MNIST files, so training from the page is not available.'
      $('train-start').disabled = true
      return
    }

    const {trainingDefaults: defaults} = env
    $('train-form').elements.classes.placeholder = `the default: ${defaults.classes}, or e.g. 0-9`
    field.placeholder = `the full subset: ${defaults.classCounts}, or all`
    const available = DIGITS.map((label) => `${data.classCounts[label]} × ${label}`).join(', ')
    $('train-data').textContent = `The data holds ${available}.`
    if (data.suggestedClassCounts && data.suggestedClassCounts !== defaults.classCounts && !field.value) field.value = data.suggestedClassCounts
  } catch {
    // The form keeps its defaults; the server explains any problem when a run is started.
  }
}

// ----------------------------------------------------------------- start

async function start() {
  clearPad()
  await refreshHealth()
  const select = $('history-filters').elements.predicted
  for (const label of DIGITS) select.append(el('option', {value: String(label), text: String(label)}))
  await Promise.all([loadHistory(), loadRuns(), fitTrainingForm()])
  listenToTraining()
  document.body.dataset.ready = 'true'
}

void start()
