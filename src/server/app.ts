/**
 * The web app's routes (see docs/web-api.md). Every input is checked with zod
 * at the door; every answer is JSON except the page, its assets, run images
 * and the event stream.
 */
import {realpath} from 'node:fs/promises'
import type {IncomingMessage} from 'node:http'
import {availableParallelism} from 'node:os'

import {tfjsVersion} from '../model/predictor.js'
import {type Context, Hono} from 'hono'
import {bodyLimit} from 'hono/body-limit'
import {HTTPException} from 'hono/http-exception'
import type {ContentfulStatusCode} from 'hono/utils/http-status'
import {streamSSE} from 'hono/streaming'
import {z} from 'zod'

import {epochColumns} from '../artifacts/epoch-log.js'
import {DEFAULT_CLASSES, DEFAULT_CLASS_COUNTS} from '../config.js'
import {formatClasses} from '../data/classes.js'
import {formatClassCounts} from '../data/split.js'
import {UserError, errorMessage, isUserError} from '../errors.js'
import {dataUriBytes} from '../images/inputs.js'
import {packageVersion} from '../version.js'
import type {WebAssets} from './assets.js'
import {type DecodePool, DecoderBusyError, TooManyPixelsError} from './decoder.js'
import {type ModelSlot, openSetFields} from './model.js'
import type {RunsFolder} from './runs.js'
import {FeedbackLabelSchema, HistoryQuerySchema, OTHER, PREDICTION_SOURCES, recordClasses} from './store/types.js'
import {DatabaseUnavailableError, PredictionLogError, type WatchedStore} from './store/outage.js'
import {CURVE_THEMES, CURVE_WIDTH, learningCurvesSvg} from './curves.js'
import {dataInfo} from './data-info.js'
import {fetchImageUrl} from './image-url.js'
import {thumbnailDataUri} from './thumbnail.js'
import {snakeKeys} from './snake.js'
import {ConflictError, NoTrainingDataError, SettingError, type TrainingManager} from './training.js'
import {type GuardOptions, guard} from './guard.js'
import {UploadCutShortError, UploadTooLargeError, readUpload} from './upload.js'

export interface AppContext {
  store: WatchedStore
  model: ModelSlot
  /** Decodes uploads in worker threads, within a pixel budget. */
  decoder: DecodePool
  training: TrainingManager
  runs: RunsFolder
  assets: WebAssets
  /** Fetching images by URL: private addresses allowed?, time limit. */
  imageUrls: {allowPrivate: boolean; timeoutMs: number}
  /** MNIST files for training from the page. */
  dataDir: string
  /** Largest request body accepted by predict, in bytes (413 beyond); also the limit of an image fetched by URL. */
  maxUploadBytes: number
  /** Seconds between keep-alive comments on the event stream. */
  keepAliveSeconds: number
  /** Resolves when the server shuts down: open event streams end then. */
  closing: Promise<void>
  /** Host allow-list and access token (see guard.ts). */
  guard: GuardOptions
  log(message: string): void
}

/**
 * What went wrong, as a word a client can act on (the page maps it to its own
 * text); the JSON error's `error` keeps the message for people and logs.
 */
export type ErrorCode =
  | 'bad-request'
  | 'bad-json'
  | 'unsupported-type'
  | 'not-found'
  | 'no-model'
  | 'model-unloaded'
  | 'too-large'
  | 'too-many-pixels'
  | 'not-an-image'
  | 'image-url'
  | 'decoder-busy'
  | 'database-unavailable'
  | 'bad-label'
  | 'bad-setting'
  | 'no-training-data'
  | 'training-running'
  | 'run-exists'
  | 'not-training'
  | 'prediction-log'
  | 'internal'

/** Largest body of a request other than predict (feedback, training options). */
export const MAX_JSON_BODY_BYTES = 64 * 1024

/** A UserError that maps to a specific HTTP status. */
export class HttpError extends UserError {
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
    code: ErrorCode = 'bad-request',
  ) {
    super(message, {code})
  }
}

/** A user's mistake found by a module that knows no HTTP, given its status and code here. */
async function coded<T>(work: () => Promise<T>, status: ContentfulStatusCode, code: ErrorCode): Promise<T> {
  try {
    return await work()
  } catch (error) {
    const ownStatus = error instanceof HttpError || error instanceof TooManyPixelsError || error instanceof DecoderBusyError
    if (isUserError(error) && !ownStatus) throw new HttpError(status, error.message, code)
    throw error
  }
}

const FeedbackSchema = z.object({
  id: z.number().int().positive(),
  label: z.unknown().pipe(FeedbackLabelSchema),
})

const PredictJsonSchema = z
  .strictObject({
    image: z
      .string()
      .regex(/^data:image\/[a-z+.-]+;base64,/i, 'must be a data URI such as data:image/png;base64,…')
      .optional(),
    url: z.string().max(2048, 'must be at most 2048 characters').optional(),
    source: z.enum(PREDICTION_SOURCES).optional(),
    /** false: answer without logging (the page's live prediction while drawing). */
    log: z.boolean().default(true),
  })
  .refine((body) => (body.image === undefined) !== (body.url === undefined), 'give either "image" (a data URI) or "url" (an http(s) address of an image)')

const LogQuerySchema = z.enum(['true', 'false', '1', '0']).optional()

const PreprocessQuerySchema = z.enum(['true', 'false', '1', '0']).default('true')

/** A loaded model's checkpoint id, as `GET /api/models` lists it. */
const ModelQuerySchema = z
  .string()
  .regex(/^[0-9a-f]{12}$/, 'must be a checkpoint id from GET /api/models')
  .optional()

/** One readable line from a zod error: which field, what is wrong. */
function firstIssue(error: z.ZodError, where: string): string {
  const issue = error.issues[0]
  const field = issue.path.length > 0 ? `${where} "${issue.path.join('.')}"` : where
  return `${field}: ${issue.message}`
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown
  } catch {
    throw new HttpError(400, 'the request body is not valid JSON', 'bad-json')
  }
}

async function jsonBody(c: Context): Promise<unknown> {
  try {
    return await c.req.json()
  } catch {
    throw new HttpError(400, 'the request body is not valid JSON', 'bad-json')
  }
}

/**
 * The body of a predict request, up to the upload limit, read from the socket
 * (upload.ts); `refuseEarly` may refuse it from its first bytes.
 */
async function uploadBody(c: Context, ctx: AppContext, refuseEarly?: (prefix: Buffer) => void): Promise<Buffer<ArrayBuffer>> {
  const incoming = (c.env as {incoming?: IncomingMessage} | undefined)?.incoming
  try {
    if (incoming === undefined) {
      // Not behind the Node server (a test's app.request): the web body, checked for size once read.
      const bytes = Buffer.from(await c.req.arrayBuffer())
      if (bytes.length > ctx.maxUploadBytes) throw new UploadTooLargeError()
      return bytes
    }

    return await readUpload(incoming, {maxBytes: ctx.maxUploadBytes, prefixBytes: EARLY_CHECK_BYTES, refuseEarly})
  } catch (error) {
    if (error instanceof UploadTooLargeError) throw new HttpError(413, tooLarge(ctx), 'too-large')
    if (error instanceof UploadCutShortError) throw new HttpError(400, 'the upload was cut short before its end; send it again')
    throw error
  }
}

/**
 * Bytes of a raw upload judged before the rest arrives: enough for any
 * header and for the first hundreds of a JPEG's scans, little enough that a
 * refused 5 MB body is hardly read.
 */
const EARLY_CHECK_BYTES = 64 * 1024

/** The image of a predict request: multipart upload, raw image bytes, or a JSON data URI from the canvas. */
async function predictInput(c: Context, ctx: AppContext): Promise<{bytes: Buffer; name: string; source: (typeof PREDICTION_SOURCES)[number]; log: boolean}> {
  const logQuery = LogQuerySchema.safeParse(c.req.query('log'))
  if (!logQuery.success) throw new HttpError(400, 'query "log" must be true or false')
  const log = logQuery.data === undefined || logQuery.data === 'true' || logQuery.data === '1'
  const type = (c.req.header('content-type') ?? '').toLowerCase()
  if (type.startsWith('multipart/form-data')) {
    const body = await uploadBody(c, ctx)
    let form: FormData
    try {
      // The header as sent: a multipart boundary is case-sensitive (browsers send mixed-case ones).
      form = await new Response(body, {headers: {'content-type': c.req.header('content-type') ?? type}}).formData()
    } catch {
      throw new HttpError(400, 'the multipart body is malformed; send a form with a file field named "image"')
    }

    // The last of repeated fields counts.
    const file = form.getAll('image').at(-1) ?? form.getAll('file').at(-1)
    if (!(file instanceof File)) throw new HttpError(400, 'the multipart form needs a file field named "image"')
    return {bytes: Buffer.from(await file.arrayBuffer()), name: file.name || 'uploaded image', source: 'upload', log}
  }

  if (type.startsWith('application/json')) {
    const parsed = PredictJsonSchema.safeParse(parseJson(await uploadBody(c, ctx)))
    if (!parsed.success) throw new HttpError(400, firstIssue(parsed.error, 'body'))
    const body = parsed.data
    if (body.url !== undefined) {
      const fetched = await coded(() => fetchImageUrl(body.url!, {...ctx.imageUrls, maxBytes: ctx.maxUploadBytes}), 400, 'image-url')
      return {...fetched, source: 'url', log: log && body.log}
    }

    const source = body.source ?? 'canvas'
    const name = source === 'canvas' ? 'canvas drawing' : 'uploaded image'
    return {bytes: dataUriBytes(body.image!, name), name, source, log: log && body.log}
  }

  if (type.startsWith('image/') || type.startsWith('application/octet-stream')) {
    // The name only labels error messages: one short line whatever the client sent.
    const name = (c.req.query('name') ?? 'uploaded image').replaceAll(/\s+/g, ' ').slice(0, 100)
    // Refused from its first bytes, an upload gets the answer it would get once read whole.
    const bytes = await coded(() => uploadBody(c, ctx, (prefix) => ctx.decoder.refuseEarly(prefix, name)), 400, 'not-an-image')
    return {bytes, name, source: 'upload', log}
  }

  throw new HttpError(
    415,
    `unsupported Content-Type "${type || 'none'}"; send multipart/form-data with an "image" file, raw image bytes (image/png, …), or JSON {"image": "data:image/png;base64,…"}`,
    'unsupported-type',
  )
}

export function createApp(ctx: AppContext): Hono {
  const app = new Hono()

  app.onError((error, c) => {
    if (error instanceof HTTPException) {
      return c.json({error: error.status === 413 ? tooLarge(ctx) : error.message, code: error.status === 413 ? 'too-large' : 'bad-request'}, error.status)
    }

    if (error instanceof HttpError) return c.json({error: error.message, code: error.code}, error.status)
    if (error instanceof DatabaseUnavailableError) {
      c.header('Retry-After', '5')
      return c.json({error: error.message, code: 'database-unavailable'}, 503)
    }

    if (error instanceof PredictionLogError) {
      ctx.log(`${c.req.method} ${c.req.path}: ${error.message}${error.cause instanceof Error && error.cause.stack ? `\n${error.cause.stack}` : ''}`)
      return c.json({error: error.message, code: 'prediction-log'}, 500)
    }

    if (error instanceof TooManyPixelsError) return c.json({error: error.message, code: 'too-many-pixels'}, 413)
    if (error instanceof DecoderBusyError) {
      c.header('Retry-After', String(error.retryAfterSeconds))
      return c.json({error: error.message, code: 'decoder-busy'}, 503)
    }

    if (error instanceof ConflictError) return c.json({error: error.message, code: error.code}, 409)
    if (error instanceof SettingError) return c.json({error: error.message, code: 'bad-setting', field: error.field, setting: error.setting ?? null}, 400)
    if (error instanceof NoTrainingDataError) return c.json({error: error.message, code: 'no-training-data'}, 400)
    // The page words the error by its code and the setting it names (web/app.js).
    if (isUserError(error)) return c.json({error: error.message, code: error.code, setting: error.setting ?? null}, 400)
    ctx.log(`${c.req.method} ${c.req.path}: ${error.stack ?? errorMessage(error)}`)
    return c.json({error: 'internal error; the server log has the details', code: 'internal'}, 500)
  })
  app.notFound((c) => c.json({error: `no such endpoint: ${c.req.method} ${c.req.path}`, code: 'not-found'}, 404))
  app.use('*', guard(ctx.guard))
  // Every body but an image's is a few hundred bytes of JSON: refused from its length, or once that much has arrived.
  const jsonLimit = bodyLimit({
    maxSize: MAX_JSON_BODY_BYTES,
    onError: (c) => c.json({error: `the request body is larger than the ${MAX_JSON_BODY_BYTES / 1024} KiB limit`, code: 'too-large'}, 413),
  })
  app.use('/api/*', (c, next) => (c.req.path === '/api/predict' ? next() : jsonLimit(c, next)))

  // ------------------------------------------------------------------ page

  app.get('/', (c) => {
    c.header('Content-Security-Policy', "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
    return c.html(ctx.assets.page)
  })
  app.get('/favicon.ico', (c) => c.redirect('/assets/favicon.svg', 301))
  app.get('/assets/:file', (c) => {
    const asset = ctx.assets.files.get(c.req.param('file'))
    if (!asset) return c.json({error: `no such asset: ${c.req.param('file')}`, code: 'not-found'}, 404)
    c.header('Content-Type', asset.type)
    c.header('Cache-Control', 'no-cache')
    return c.body(asset.body)
  })

  // ---------------------------------------------------------------- health

  app.get('/api/health', async (c) => {
    const model = ctx.model.info
    const store = await ctx.store.health()
    // Health needs no token: behind one it tells nothing of where files and the database are (/api/status does).
    const open = ctx.guard.token === undefined
    return reply(
      c,
      {
        status: store.available ? 'ok' : 'degraded',
        classes: model.classes,
        packageVersion: packageVersion(),
        tfjsVersion: tfjsVersion(),
        model: open ? model : {...model, checkpointPath: null},
        store: open
          ? {kind: ctx.store.kind, location: ctx.store.location, ...store}
          : {kind: ctx.store.kind, location: null, ...store, error: store.error === null ? null : 'the database is not answering (GET /api/status says why)'},
        training: {state: ctx.training.snapshot().state},
      },
      store.available ? 200 : 503,
    )
  })

  app.get('/api/status', async (c) => {
    const store = await ctx.store.health()
    const training = ctx.training.snapshot()
    return reply(c, {
      status: store.available ? 'ok' : 'degraded',
      uptimeSeconds: Math.round(process.uptime()),
      model: ctx.model.info,
      store: {kind: ctx.store.kind, location: ctx.store.location, ...store, predictions: store.available ? await ctx.store.count().catch(() => null) : null},
      training: {state: training.state, runName: training.runName, startedAt: training.startedAt, finishedAt: training.finishedAt},
      decoding: ctx.decoder.pending,
    })
  })

  app.get('/api/env', async (c) =>
    reply(c, {
      packageVersion: packageVersion(),
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      cpus: availableParallelism(),
      tfjsVersion: tfjsVersion(),
      backend: ctx.model.info.backend,
      runsDir: ctx.runs.root,
      data: await dataInfo(ctx.dataDir),
      limits: {maxUploadBytes: ctx.maxUploadBytes, maxImagePixels: ctx.decoder.maxPixels, imageUrlTimeoutSeconds: ctx.imageUrls.timeoutMs / 1000},
      privateUrlsAllowed: ctx.imageUrls.allowPrivate,
      classes: ctx.model.info.classes,
      /** What a training run from the page knows when the form names no digits or counts. */
      trainingDefaults: {classes: formatClasses(DEFAULT_CLASSES), classCounts: formatClassCounts(DEFAULT_CLASS_COUNTS)},
      /** The columns of the page's epoch table after the epoch number: the logged metrics it shows, and how. */
      epochColumns: epochColumns(),
    }),
  )

  // --------------------------------------------------------------- predict

  // The upload limit is kept while the body is read (uploadBody), not by a middleware that reads it through a web stream.
  app.post('/api/predict', async (c) => {
    if (!ctx.model.info.loaded) {
      return c.json(
        {error: 'no model is loaded yet: start serve with --checkpoint-path FILE, or train a model from the page and wait for it to finish', code: 'no-model'},
        503,
      )
    }

    const preprocess = PreprocessQuerySchema.safeParse(c.req.query('preprocess'))
    if (!preprocess.success) throw new HttpError(400, 'query "preprocess" must be true or false')
    const chosen = ModelQuerySchema.safeParse(c.req.query('model'))
    if (!chosen.success) throw new HttpError(400, `query "model" ${chosen.error.issues[0].message}`)
    if (chosen.data !== undefined && !ctx.model.classesOf(chosen.data)) throw new HttpError(404, `no loaded model ${chosen.data}; GET /api/models lists them`)
    const input = await predictInput(c, ctx)
    const {pixels, stroke} = await coded(
      () => ctx.decoder.decode(input.bytes, input.name, preprocess.data === 'true' || preprocess.data === '1'),
      400,
      'not-an-image',
    )
    const answer = ctx.model.predict(pixels, stroke, chosen.data)
    if (!answer) return c.json({error: 'the model was unloaded; try again', code: 'model-unloaded'}, 503)
    const result = await answer
    if (!input.log) {
      return reply(c, {
        id: null,
        createdAt: null,
        prediction: result.prediction,
        confidence: result.confidence,
        ...openSetFields(result),
        probs: result.probs,
        checkpointId: result.checkpointId,
        thumbnail: thumbnailDataUri(pixels),
      })
    }

    const record = await ctx.store.insert({
      thumbnail: thumbnailDataUri(pixels),
      predicted: result.prediction,
      confidence: result.confidence,
      probs: result.probs,
      checkpointId: result.checkpointId,
      source: input.source,
      ...openSetFields(result),
    })
    return reply(c, {
      id: record.id,
      createdAt: record.createdAt,
      prediction: result.prediction,
      confidence: result.confidence,
      ...openSetFields(result),
      probs: result.probs,
      checkpointId: result.checkpointId,
      thumbnail: record.thumbnail,
    })
  })

  // ------------------------------------------------------ history, feedback

  app.get('/api/history', async (c) => {
    const query = HistoryQuerySchema.safeParse(c.req.query())
    if (!query.success) {
      const issue = query.error.issues[0]
      if (issue.code === 'unrecognized_keys')
        throw new HttpError(400, `unknown query parameter ${issue.keys.join(', ')}; use predicted, feedback, limit, offset`)
      if (issue.path[0] === 'predicted') throw new HttpError(400, 'query "predicted" must be a digit 0–9')
      throw new HttpError(400, firstIssue(query.error, 'query'))
    }

    return reply(c, await ctx.store.list(query.data))
  })

  app.post('/api/feedback', async (c) => {
    const parsed = FeedbackSchema.safeParse(await jsonBody(c))
    if (!parsed.success) {
      const field = parsed.error.issues[0].path[0]
      if (field === 'label')
        throw new HttpError(400, '"label" must be a digit 0–9 (the digit actually drawn) or "other" (none of the model\'s digits)', 'bad-label')
      throw new HttpError(400, `${firstIssue(parsed.error, 'body')}; send {"id": <prediction id>, "label": <the digit actually drawn, or "other">}`)
    }

    // A row's labels are its own model's classes: a two-digit model's prediction cannot be called any other digit, only "other".
    const logged = await ctx.store.get(parsed.data.id)
    if (!logged) throw new HttpError(404, `no prediction with id ${parsed.data.id}`, 'not-found')
    const classes = recordClasses(logged)
    const label = parsed.data.label
    if (label !== OTHER && !classes.includes(label)) {
      throw new HttpError(
        400,
        `"label" must be one of ${classes.join(', ')}, the digits of the model that made prediction ${parsed.data.id}, or "other" when it was none of them`,
        'bad-label',
      )
    }

    const record = await ctx.store.setFeedback(parsed.data.id, parsed.data.label)
    if (!record) throw new HttpError(404, `no prediction with id ${parsed.data.id}`, 'not-found')
    return reply(c, record)
  })

  // ---------------------------------------------------------------- models

  app.get('/api/models', (c) => reply(c, {models: ctx.model.models}))

  app.post('/api/models/:id/activate', (c) => {
    const model = ctx.model.select(c.req.param('id'))
    if (!model) throw new HttpError(404, `no loaded model ${c.req.param('id')}; GET /api/models lists them`)
    return reply(c, {model})
  })

  // ------------------------------------------------------------------ runs

  /** How the dashboard shows a run: which model answers now, and whether it finished. */
  const runState = async (name: string, complete: boolean, cancelled: boolean) => {
    const training = ctx.training.snapshot()
    const own = training.runName === name
    const failed = own && training.state === 'failed' && !complete
    const state =
      own && training.state === 'running'
        ? 'training'
        : complete
          ? 'finished'
          : cancelled || (own && training.state === 'cancelled')
            ? 'cancelled'
            : failed
              ? 'failed'
              : 'incomplete'
    const served = ctx.model.info.checkpointPath
    const checkpoint = served === null ? undefined : await ctx.runs.checkpoint(name)
    // Why this server's last run failed (a full disk while writing its files, say); null otherwise.
    return {state, error: failed ? training.error : null, active: checkpoint !== undefined && checkpoint === (await realpathOr(served!))}
  }

  app.get('/api/runs', async (c) => {
    const runs = await ctx.runs.list()
    const decorated = await Promise.all(runs.map(async (run) => ({...run, ...(await runState(run.name, run.complete, run.cancelled))})))
    return reply(c, {runsDir: ctx.runs.root, runs: decorated})
  })

  app.get('/api/runs/:name', async (c) => {
    const detail = await ctx.runs.detail(c.req.param('name'))
    if (!detail) throw new HttpError(404, `no run named ${c.req.param('name')} in the runs folder`, 'not-found')
    return reply(c, {...detail, ...(await runState(detail.name, detail.metrics !== null, detail.cancelled))})
  })

  app.get('/api/runs/:name/curves.svg', async (c) => {
    const detail = await ctx.runs.detail(c.req.param('name'))
    if (!detail?.lossCurves) throw new HttpError(404, `run ${c.req.param('name')} has no learning curves yet`, 'not-found')
    const theme = z.enum(CURVE_THEMES).default('light').safeParse(c.req.query('theme'))
    if (!theme.success) throw new HttpError(400, `query "theme" must be ${CURVE_THEMES.join(' or ')}`)
    const width = z.coerce.number().int().min(CURVE_WIDTH.min).max(CURVE_WIDTH.max).default(CURVE_WIDTH.default).safeParse(c.req.query('width'))
    if (!width.success) throw new HttpError(400, `query "width" must be a whole number of pixels from ${CURVE_WIDTH.min} to ${CURVE_WIDTH.max}`)
    c.header('Content-Type', 'image/svg+xml; charset=utf-8')
    c.header('Cache-Control', 'no-cache')
    return c.body(await learningCurvesSvg(detail.metadata?.run_name ?? detail.name, detail.lossCurves, theme.data, width.data))
  })

  app.get('/api/runs/:name/files/:file', async (c) => {
    const image = await ctx.runs.image(c.req.param('name'), c.req.param('file'))
    if (!image) throw new HttpError(404, `no image ${c.req.param('file')} in run ${c.req.param('name')}`, 'not-found')
    c.header('Content-Type', 'image/png')
    c.header('Cache-Control', 'no-cache')
    return c.body(new Uint8Array(image))
  })

  app.post('/api/runs/:name/activate', async (c) => {
    const path = await ctx.runs.checkpoint(c.req.param('name'))
    if (!path) throw new HttpError(404, `run ${c.req.param('name')} has no best.ckpt to serve`, 'not-found')
    return reply(c, {model: await ctx.model.load(path)})
  })

  // -------------------------------------------------------------- training

  app.post('/api/train', async (c) => {
    // The guard lets through JSON or no body at all.
    const body = c.req.header('content-type') ? await jsonBody(c) : {}
    return reply(c, await ctx.training.start(body), 202)
  })

  app.get('/api/train/status', (c) => reply(c, ctx.training.snapshot()))

  app.post('/api/train/cancel', (c) => {
    if (!ctx.training.cancel()) throw new HttpError(409, 'no training run is in progress', 'not-training')
    return reply(c, ctx.training.snapshot(), 202)
  })

  app.get('/api/train/events', (c) =>
    streamSSE(c, async (stream) => {
      let sent = Promise.resolve()
      // Events are written in order, one after the other, whatever the pace of the worker.
      const send = (event: string, data: unknown) => {
        sent = sent.then(() => stream.writeSSE({event, data: JSON.stringify(snakeKeys(data))}))
      }

      const unsubscribe = ctx.training.subscribe((event) => send(event.type, event.data))
      send('status', ctx.training.snapshot())
      const ended = new Promise<void>((resolve) => {
        stream.onAbort(resolve)
        void ctx.closing.then(resolve)
      })
      const keepAlive = setInterval(() => {
        sent = sent.then(() => stream.write(': keep-alive\n\n').then(() => {}))
      }, ctx.keepAliveSeconds * 1000)
      try {
        await ended
      } finally {
        clearInterval(keepAlive)
        unsubscribe()
      }
    }),
  )

  return app
}

async function realpathOr(path: string): Promise<string> {
  try {
    return await realpath(path)
  } catch {
    return path
  }
}

/** A JSON answer, its keys spelled snake_case like the package's files (snake.ts). */
function reply(c: Context, body: unknown, status?: ContentfulStatusCode): Response {
  return c.json(snakeKeys(body) as Record<string, never>, status)
}

function tooLarge(ctx: AppContext): string {
  const limit = ctx.maxUploadBytes >= 1024 * 1024 ? `${+(ctx.maxUploadBytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.floor(ctx.maxUploadBytes / 1024)} KiB`
  return `the upload is larger than the ${limit} limit; send a smaller image (a digit needs only a few kilobytes)`
}
