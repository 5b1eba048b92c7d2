import type {ClassLabel} from '../config.js'
import {type Prediction, type Predictor, loadPredictor} from '../model/predictor.js'

/** Requests that arrive while the model is busy are answered together, at most this many in one forward pass. */
export const MAX_BATCH = 64

export interface ServedPrediction extends Prediction {
  confidence: number
  checkpointId: string
}

export interface ModelInfo {
  loaded: boolean
  checkpointId: string | null
  checkpointPath: string | null
  backend: string | null
  loadedAt: string | null
}

interface Loaded {
  predictor: Predictor
  path: string
  loadedAt: string
}

interface Waiting {
  pixels: Float32Array
  resolve(prediction: ServedPrediction): void
  reject(error: unknown): void
}

/**
 * The model the server predicts with, swappable while requests are in flight
 * (a training run finishing, a run chosen on the dashboard). Concurrent
 * requests are gathered into one batch: a forward pass of 64 digits costs far
 * less than 64 passes of one, which is what keeps latency flat under load.
 */
export class ModelSlot {
  private current: Loaded | undefined
  private queue: Waiting[] = []
  private busy = false
  /** Predictors replaced while a batch was running: disposed when it ends. */
  private retired: Predictor[] = []

  get info(): ModelInfo {
    const loaded = this.current
    return {
      loaded: loaded !== undefined,
      checkpointId: loaded?.predictor.checkpointId ?? null,
      checkpointPath: loaded?.path ?? null,
      backend: loaded?.predictor.backend ?? null,
      loadedAt: loaded?.loadedAt ?? null,
    }
  }

  /** Load a checkpoint and serve it from now on; the previous model is released. Throws UserError for a bad file. */
  async load(checkpointPath: string): Promise<ModelInfo> {
    const predictor = await loadPredictor(checkpointPath)
    const previous = this.current
    this.current = {predictor, path: checkpointPath, loadedAt: new Date().toISOString()}
    if (previous) this.retire(previous.predictor)
    return this.info
  }

  /** Predict one digit (784 values in [0, 1]); undefined when no model is loaded. */
  predict(pixels: Float32Array): Promise<ServedPrediction> | undefined {
    if (!this.current) return undefined
    const answer = new Promise<ServedPrediction>((resolve, reject) => this.queue.push({pixels, resolve, reject}))
    void this.drain()
    return answer
  }

  private async drain(): Promise<void> {
    if (this.busy) return
    this.busy = true
    try {
      while (this.queue.length > 0 && this.current) {
        const batch = this.queue.splice(0, MAX_BATCH)
        const {predictor} = this.current
        try {
          const results = await predictor.predict(batch.map((item) => item.pixels))
          for (const [i, item] of batch.entries()) item.resolve(served(results[i], predictor.checkpointId))
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
    if (this.current) this.retire(this.current.predictor)
    this.current = undefined
    for (const item of this.queue.splice(0)) item.reject(new Error('the server is shutting down'))
  }
}

function served(prediction: Prediction, checkpointId: string): ServedPrediction {
  const confidence = prediction.probs[String(prediction.prediction) as `${ClassLabel}`]
  return {...prediction, confidence, checkpointId}
}
