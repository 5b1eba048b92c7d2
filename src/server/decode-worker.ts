/**
 * Image decoding off the server's event loop: this file is the entry point of
 * each Worker of the {@link DecodePool}. A job is image bytes; the answer is
 * the 784 values the model takes and whether a stroke was found, or the
 * one-line reason it could not be read.
 */
import {parentPort} from 'node:worker_threads'

import {errorMessage, isUserError} from '../errors.js'
import {preprocessBytes} from '../images/preprocess.js'
import {type DecodeJob, type DecodeResult, WORKER_READY} from './decoder.js'

const port = parentPort
if (!port) throw new Error('decode-worker runs inside a Worker only')

port.on('message', async (job: DecodeJob) => {
  let result: DecodeResult
  try {
    const {pixels, stroke} = await preprocessBytes(Buffer.from(job.bytes), job.name, {preprocess: job.preprocess})
    result = {id: job.id, pixels, stroke}
  } catch (error) {
    result = {id: job.id, error: errorMessage(error), userError: isUserError(error)}
  }

  port.postMessage(result, 'pixels' in result ? [result.pixels.buffer as ArrayBuffer] : [])
})

port.postMessage(WORKER_READY)
