/**
 * What is left of a request body once its answer is sent (a 413, a 400 before
 * the body was read) is read and thrown away, so the client, still writing,
 * gets to read that answer and its connection stays usable. Closing instead
 * makes the client's write fail (EPIPE) before it sees the answer. Bounded:
 * past `maxBytes` or `timeoutMs` the connection is closed after all.
 */
import type {IncomingMessage, Server, ServerResponse} from 'node:http'

export interface DrainLimits {
  maxBytes: number
  timeoutMs: number
}

export function drainUnreadBodies(server: Server, limits: DrainLimits): void {
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    response.once('finish', () => {
      if (!request.readableEnded && !request.destroyed) drain(request, limits)
    })
  })
}

function drain(request: IncomingMessage, {maxBytes, timeoutMs}: DrainLimits): void {
  let read = 0
  const stop = () => {
    clearTimeout(timer)
    request.off('data', count)
  }
  const close = () => {
    stop()
    request.socket?.destroy()
  }
  const count = (chunk: Buffer) => {
    read += chunk.length
    if (read > maxBytes) close()
  }
  const timer = setTimeout(close, timeoutMs)
  timer.unref()
  // Whatever was reading the body (a web stream of the request) no longer wants it.
  request.removeAllListeners('data')
  request.on('data', count)
  request.once('end', stop)
  request.once('error', stop)
  request.resume()
}
