import type {ClassLabel} from '../config.js'
import {type Answer, type Predictor, loadPredictor} from '../model/predictor.js'

/** Requests that arrive while the model is busy are answered together, at most this many in one forward pass. */
export const MAX_BATCH = 64

/** Models kept loaded side by side (the web app's model switch); the least recently chosen beyond this are released. */
export const MAX_LOADED_MODELS = 4

export interface ServedPrediction extends Answer {
  checkpointId: string
}

/** `known`, and `reason` when it is false: the open-set part of an answer, as the API sends it. */
export function openSetFields(answer: Pick<Answer, 'known' | 'reason'>): {known: boolean; reason?: string} {
  return answer.known ? {known: true} : {known: false, reason: answer.reason}
}

export interface ModelInfo {
  loaded: boolean
  checkpointId: string | null
  checkpointPath: string | null
  backend: string | null
  loadedAt: string | null
  /** The digits the model knows, in logit order; null when no model is loaded. */
  classes: ClassLabel[] | null
}

/** One of the loaded models, as `GET /api/models` lists it. */
export interface LoadedModelInfo {
  checkpointId: string
  checkpointPath: string
  backend: string
  loadedAt: string
  classes: ClassLabel[]
  /** Whether it answers predictions that name no model. */
  current: boolean
}

interface Loaded {
  predictor: Predictor
  path: string
  loadedAt: string
}

interface Waiting {
  pixels: Float32Array
  /** Whether preprocessing found ink: without, the answer is "no digit". */
  stroke: boolean
  model: Loaded
  resolve(prediction: ServedPrediction): void
  reject(error: unknown): void
}

/**
 * The models the server predicts with: one current model, which answers
 * requests that name none, and up to MAX_LOADED_MODELS loaded side by side
 * (a ten-digit model beside the default one), each addressed by its checkpoint id.
 * Swappable while requests are in flight (a training run finishing, a run
 * chosen on the dashboard). Concurrent requests to one model are gathered
 * into one batch: a forward pass of 64 digits costs far less than 64 passes
 * of one, which is what keeps latency flat under load.
 */
export class ModelSlot {
  /** Loaded models, the current one last. */
  private loaded: Loaded[] = []
  private queue: Waiting[] = []
  private busy = false
  /** Predictors replaced while a batch was running: disposed when it ends. */
  private retired: Predictor[] = []

  private get current(): Loaded | undefined {
    return this.loaded.at(-1)
  }

  get info(): ModelInfo {
    const loaded = this.current
    return {
      loaded: loaded !== undefined,
      checkpointId: loaded?.predictor.checkpointId ?? null,
      checkpointPath: loaded?.path ?? null,
      backend: loaded?.predictor.backend ?? null,
      loadedAt: loaded?.loadedAt ?? null,
      classes: loaded ? [...loaded.predictor.classes] : null,
    }
  }

  /** Every loaded model, the current one first. */
  get models(): LoadedModelInfo[] {
    const current = this.current
    return [...this.loaded].reverse().map((model) => ({
      checkpointId: model.predictor.checkpointId,
      checkpointPath: model.path,
      backend: model.predictor.backend,
      loadedAt: model.loadedAt,
      classes: [...model.predictor.classes],
      current: model === current,
    }))
  }

  /**
   * Load a checkpoint and make it the current model; a model loaded before from
   * the same file is replaced, the others stay loaded (the oldest beyond
   * MAX_LOADED_MODELS are released). Throws UserError for a bad file.
   */
  async load(checkpointPath: string): Promise<ModelInfo> {
    const predictor = await loadPredictor(checkpointPath)
    const replaced = this.loaded.filter((model) => model.path === checkpointPath || model.predictor.checkpointId === predictor.checkpointId)
    this.loaded = this.loaded.filter((model) => !replaced.includes(model))
    this.loaded.push({predictor, path: checkpointPath, loadedAt: new Date().toISOString()})
    for (const model of [...replaced, ...this.loaded.splice(0, Math.max(0, this.loaded.length - MAX_LOADED_MODELS))]) this.retire(model.predictor)
    return this.info
  }

  /** Make a loaded model the current one; undefined when none has this checkpoint id. */
  select(checkpointId: string): ModelInfo | undefined {
    const model = this.find(checkpointId)
    if (!model) return undefined
    this.loaded = [...this.loaded.filter((m) => m !== model), model]
    return this.info
  }

  /** The classes of a loaded model (the current one without an id); undefined when there is no such model. */
  classesOf(checkpointId?: string): ClassLabel[] | undefined {
    const model = checkpointId === undefined ? this.current : this.find(checkpointId)
    return model && [...model.predictor.classes]
  }

  private find(checkpointId: string): Loaded | undefined {
    return this.loaded.find((model) => model.predictor.checkpointId === checkpointId)
  }

  /**
   * Predict one digit (784 values in [0, 1]) with the current model, or with the
   * loaded model of that checkpoint id; undefined when there is no such model.
   * `stroke: false` (no ink found) is answered as "no digit".
   */
  predict(pixels: Float32Array, stroke: boolean, checkpointId?: string): Promise<ServedPrediction> | undefined {
    const model = checkpointId === undefined ? this.current : this.find(checkpointId)
    if (!model) return undefined
    const answer = new Promise<ServedPrediction>((resolve, reject) => this.queue.push({pixels, stroke, model, resolve, reject}))
    void this.drain()
    return answer
  }

  private async drain(): Promise<void> {
    if (this.busy) return
    this.busy = true
    try {
      while (this.queue.length > 0) {
        // The first waiting request's model, and every request to it, up to a batch.
        const {model} = this.queue[0]
        const batch: Waiting[] = []
        this.queue = this.queue.filter((item) => (item.model === model && batch.length < MAX_BATCH ? (batch.push(item), false) : true))
        const {predictor} = model
        try {
          const results = await predictor.predict(
            batch.map((item) => item.pixels),
            batch.map((item) => item.stroke),
          )
          for (const [i, item] of batch.entries()) item.resolve({...results[i], checkpointId: predictor.checkpointId})
        } catch (error) {
          for (const item of batch) item.reject(error)
        }
      }
    } finally {
      this.busy = false
      for (const predictor of this.retired.splice(0)) predictor.dispose()
    }
  }

  private retire(predictor: Predictor): void {
    if (this.busy) this.retired.push(predictor)
    else predictor.dispose()
  }

  dispose(): void {
    for (const model of this.loaded) this.retire(model.predictor)
    this.loaded = []
    for (const item of this.queue.splice(0)) item.reject(new Error('the server is shutting down'))
  }
}
