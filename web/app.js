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

async function api(path, options = {}) {
  const response = await fetch(path, options)
  const body = await response.json().catch(() => ({error: `${response.status} ${response.statusText}`}))
  if (!response.ok) throw new Error(body.error ?? `${response.status} ${response.statusText}`)
  return body
}

const percent = (x) => `${(x * 100).toFixed(1)}%`
const fixed = (x, digits = 4) => (typeof x === 'number' ? x.toFixed(digits) : '–')
const time = (iso) => new Date(iso).toLocaleString(undefined, {dateStyle: 'short', timeStyle: 'medium'})
/** Only PNG data URIs made by the server are shown as images. */
const safeImage = (uri) => (typeof uri === 'string' && uri.startsWith('data:image/png;base64,') ? uri : '')

let classes = []

// ------------------------------------------------------------------ health

async function refreshHealth() {
  try {
    const health = await api('/api/health')
    classes = health.classes
    const model = health.model.loaded ? `model ${health.model.checkpointId} on ${health.model.backend}` : 'no model loaded (train one below)'
    $('health').textContent = `${model} · tfjs ${health.tfjsVersion} · v${health.packageVersion} · history in ${health.store.kind}`
    $('health').dataset.loaded = String(health.model.loaded)
    return health
  } catch (error) {
    $('health').textContent = `server unreachable: ${error.message}`
    return undefined
  }
}

// ---------------------------------------------------------------- drawing

const pad = $('pad')
const ctx = pad.getContext('2d')
let inverted = false
let drawing = false
let dirty = false

function paper() {
  return inverted ? '#fff' : '#000'
}

function ink() {
  return inverted ? '#000' : '#fff'
}

function clearPad() {
  ctx.fillStyle = paper()
  ctx.fillRect(0, 0, pad.width, pad.height)
  dirty = false
}

function point(event) {
  const box = pad.getBoundingClientRect()
  return {x: ((event.clientX - box.left) * pad.width) / box.width, y: ((event.clientY - box.top) * pad.height) / box.height}
}

pad.addEventListener('pointerdown', (event) => {
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
})
pad.addEventListener('pointermove', (event) => {
  if (!drawing) return
  const {x, y} = point(event)
  ctx.lineTo(x, y)
  ctx.stroke()
})
const endStroke = () => {
  if (!drawing) return
  drawing = false
  if ($('auto').checked) void predictCanvas()
}

pad.addEventListener('pointerup', endStroke)
pad.addEventListener('pointercancel', endStroke)

$('brush').addEventListener('input', () => {
  $('brush-size').textContent = $('brush').value
})
$('clear').addEventListener('click', () => {
  clearPad()
  $('result').hidden = true
})
$('invert').addEventListener('click', () => {
  // Swap ink and paper on what is already drawn, so the drawing survives the switch.
  const image = ctx.getImageData(0, 0, pad.width, pad.height)
  for (let i = 0; i < image.data.length; i += 4) {
    for (let c = 0; c < 3; c++) image.data[i + c] = 255 - image.data[i + c]
  }

  ctx.putImageData(image, 0, 0)
  inverted = !inverted
  $('invert').setAttribute('aria-pressed', String(inverted))
})

// --------------------------------------------------------------- predict

let lastPrediction

function showError(message) {
  $('predict-error').textContent = message
  $('predict-error').hidden = !message
}

function showPrediction(result) {
  lastPrediction = result
  showError('')
  $('result').hidden = false
  $('result-label').textContent = String(result.prediction)
  $('result-confidence').textContent = `${percent(result.confidence)} sure · model ${result.checkpointId}`
  $('result-thumb').src = safeImage(result.thumbnail)
  const bars = $('bars')
  bars.replaceChildren(
    ...classes.map((label) => {
      const p = result.probs[String(label)] ?? 0
      const fill = el('span', {class: 'fill'})
      fill.style.width = percent(p)
      return el(
        'div',
        {class: label === result.prediction ? 'bar top' : 'bar', 'data-label': String(label)},
        el('span', {class: 'bar-label', text: String(label)}),
        el('span', {class: 'track'}, fill),
        el('span', {class: 'bar-value', text: percent(p)}),
      )
    }),
  )
  $('feedback-note').textContent = ''
  $('feedback-buttons').replaceChildren(
    ...classes.map((label) => el('button', {type: 'button', 'data-label': String(label), text: String(label), onclick: () => sendFeedback(result.id, label)})),
  )
}

async function predictBody(body, contentType) {
  try {
    const result = await api('/api/predict', {method: 'POST', headers: {'content-type': contentType}, body})
    showPrediction(result)
    void loadHistory()
  } catch (error) {
    showError(error.message)
  }
}

async function predictCanvas() {
  if (!dirty) {
    showError('Draw a digit first.')
    return
  }

  await predictBody(JSON.stringify({image: pad.toDataURL('image/png'), source: 'canvas'}), 'application/json')
}

$('predict-button').addEventListener('click', () => void predictCanvas())
$('upload').addEventListener('change', async () => {
  const file = $('upload').files[0]
  if (!file) return
  const form = new FormData()
  form.append('image', file)
  try {
    showPrediction(await api('/api/predict', {method: 'POST', body: form}))
    void loadHistory()
  } catch (error) {
    showError(error.message)
  }

  $('upload').value = ''
})

async function sendFeedback(id, label) {
  try {
    await api('/api/feedback', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({id, label})})
    if (lastPrediction?.id === id) {
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
  try {
    const page = await api(`/api/history?${query}`)
    history.total = page.total
    $('history-count').textContent = page.total === 0 ? 'nothing logged yet' : `${page.offset + 1}–${page.offset + page.items.length} of ${page.total}`
    $('history-rows').replaceChildren(...page.items.map(historyRow))
    $('history-prev').disabled = history.offset === 0
    $('history-next').disabled = history.offset + history.limit >= history.total
  } catch (error) {
    $('history-count').textContent = error.message
  }
}

function historyRow(record) {
  const verdict = record.feedback === null ? '' : record.feedback === record.predicted ? 'correct' : 'wrong'
  const buttons = classes.map((label) =>
    el('button', {
      type: 'button',
      class: record.feedback === label ? 'chosen' : '',
      'data-label': String(label),
      'aria-pressed': String(record.feedback === label),
      text: String(label),
      onclick: () => sendFeedback(record.id, label),
    }),
  )
  return el(
    'tr',
    {class: verdict, 'data-id': String(record.id)},
    el('td', {text: String(record.id)}),
    el('td', {}, el('img', {src: safeImage(record.thumbnail), alt: `input ${record.id}`, width: '28', height: '28', class: 'thumb'})),
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

async function loadRuns() {
  try {
    const {runs} = await api('/api/runs')
    $('runs-empty').hidden = runs.length > 0
    $('run-rows').replaceChildren(
      ...runs.map((run) =>
        el(
          'tr',
          {class: run.name === selectedRun ? 'selected clickable' : 'clickable', 'data-run': run.name, onclick: () => void showRun(run.name)},
          el('td', {text: run.name}),
          el('td', {text: run.epochs === null ? '–' : String(run.epochs)}),
          el('td', {text: run.evalAccuracy === null ? '–' : fixed(run.evalAccuracy)}),
          el('td', {text: run.evalF1Macro === null ? '–' : fixed(run.evalF1Macro)}),
          el('td', {text: run.hasCheckpoint ? 'best.ckpt' : '–'}),
          el('td', {text: time(run.modifiedAt)}),
        ),
      ),
    )
  } catch (error) {
    $('runs-empty').hidden = false
    $('runs-empty').textContent = error.message
  }
}

async function showRun(name) {
  selectedRun = name
  let run
  try {
    run = await api(`/api/runs/${encodeURIComponent(name)}`)
  } catch (error) {
    $('run-note').textContent = error.message
    return
  }

  $('run-detail').hidden = false
  $('run-name').textContent = run.name
  $('run-note').textContent = ''
  $('run-activate').disabled = run.checkpoint === null
  $('run-problems').replaceChildren(...run.problems.map((p) => el('li', {text: `${p.file}: ${p.problem}`})))
  renderMetrics(run.metrics)
  $('curves-source').textContent = run.lossCurvesSource ? `(${run.lossCurvesSource})` : '(none)'
  drawCurves($('curves'), curveRows(run.lossCurves))
  $('run-images').replaceChildren(
    ...Object.entries(run.images).map(([file, url]) => el('figure', {}, el('img', {src: url, alt: file}), el('figcaption', {text: file}))),
  )
  for (const row of $('run-rows').children) row.classList.toggle('selected', row.dataset.run === name)
}

function renderMetrics(metrics) {
  const table = $('run-metrics')
  if (!metrics) {
    table.replaceChildren(el('caption', {text: 'no metrics.json (yet)'}))
    return
  }

  const head = el('tr', {}, ...['split', 'samples', 'loss', 'accuracy', 'macro accuracy', 'macro-F1'].map((h) => el('th', {text: h})))
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

/** loss_curves.json holds one list per series; the plot walks epochs. */
function curveRows(curves) {
  if (!curves) return []
  return curves.epochs.map((epoch, i) => ({epoch, trainLoss: curves.train_loss[i], valLoss: curves.val_loss[i], valF1Macro: curves.val_f1_macro[i]}))
}

/** Train and validation loss (left axis) and validation macro-F1 (right axis, 0..1) per epoch. */
function drawCurves(canvas, epochs) {
  const g = canvas.getContext('2d')
  const w = canvas.width
  const h = canvas.height
  const m = {left: 44, right: 44, top: 12, bottom: 28}
  g.clearRect(0, 0, w, h)
  g.font = '12px system-ui, sans-serif'
  g.fillStyle = '#666'
  if (epochs.length === 0) {
    g.fillText('no curves yet', m.left, h / 2)
    return
  }

  const maxLoss = Math.max(...epochs.flatMap((e) => [e.trainLoss, e.valLoss]), 1e-6)
  const last = epochs.at(-1).epoch
  const first = epochs[0].epoch
  // A single epoch sits in the middle rather than on the axis.
  const x = (epoch) => m.left + (last === first ? 0.5 : (epoch - first) / (last - first)) * (w - m.left - m.right)
  const yLoss = (v) => h - m.bottom - (v / maxLoss) * (h - m.top - m.bottom)
  const yScore = (v) => h - m.bottom - v * (h - m.top - m.bottom)
  g.strokeStyle = '#ccc'
  g.beginPath()
  g.moveTo(m.left, m.top)
  g.lineTo(m.left, h - m.bottom)
  g.lineTo(w - m.right, h - m.bottom)
  g.lineTo(w - m.right, m.top)
  g.stroke()
  g.fillText(maxLoss.toFixed(2), 4, m.top + 10)
  g.fillText('0', m.left - 12, h - m.bottom)
  g.fillText('1.0', w - m.right + 6, m.top + 10)
  for (const e of epochs) g.fillText(String(e.epoch), x(e.epoch) - 3, h - 10)
  const series = [
    ['train loss', '#1f77b4', (e) => yLoss(e.trainLoss)],
    ['val loss', '#ff7f0e', (e) => yLoss(e.valLoss)],
    ['val macro-F1', '#2ca02c', (e) => yScore(e.valF1Macro)],
  ]
  series.forEach(([name, colour, y], i) => {
    g.strokeStyle = colour
    g.fillStyle = colour
    g.lineWidth = 2
    g.beginPath()
    epochs.forEach((e, j) => (j === 0 ? g.moveTo(x(e.epoch), y(e)) : g.lineTo(x(e.epoch), y(e))))
    g.stroke()
    for (const e of epochs) g.fillRect(x(e.epoch) - 2, y(e) - 2, 4, 4)
    g.fillText(name, m.left + 8 + i * 110, m.top + 12)
  })
  g.lineWidth = 1
}

$('run-activate').addEventListener('click', async () => {
  if (!selectedRun) return
  try {
    const {model} = await api(`/api/runs/${encodeURIComponent(selectedRun)}/activate`, {method: 'POST'})
    $('run-note').textContent = `now predicting with model ${model.checkpointId}`
    void refreshHealth()
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
    failed: `failed: ${status.error}`,
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
    void loadRuns()
  }
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
    el('td', {text: fixed(log.valAccuracy)}),
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
    renderStatus(await api('/api/train', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body)}))
  } catch (error) {
    $('train-state').textContent = error.message
    $('train-state').dataset.state = 'error'
  }
})
$('train-cancel').addEventListener('click', () => void api('/api/train/cancel', {method: 'POST'}).catch(() => {}))

// ----------------------------------------------------------------- start

async function start() {
  clearPad()
  await refreshHealth()
  const select = $('history-filters').elements.predicted
  for (const label of classes) select.append(el('option', {value: String(label), text: String(label)}))
  await Promise.all([loadHistory(), loadRuns()])
  listenToTraining()
  document.body.dataset.ready = 'true'
}

void start()
