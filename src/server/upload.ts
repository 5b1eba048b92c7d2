/**
 * The body of an upload, read from the socket straight into one buffer sized
 * from its Content-Length. Read through a web stream instead, a 5 MB body
 * costs the event loop a copy of every 64 KB chunk, another to join them and
 * a third to hand out an ArrayBuffer, and the collector sweeps all of them:
 * four clients sending such bodies held health checks up for a third of a
 * second. Here it costs one copy of its bytes.
 *
 * What the first bytes already refuse (no image at all, a JPEG whose first
 * scans go past the limits) is refused then: the rest is not kept, the answer
 * goes out, and the server drains what the client still sends (drain.ts).
 */
import type {IncomingMessage} from 'node:http'

/** The body is over `maxBytes` (413). */
export class UploadTooLargeError extends Error {}

/** The client went away before the end of its body. */
export class UploadCutShortError extends Error {}

export interface UploadOptions {
  maxBytes: number
  /** Bytes gathered before `refuseEarly` sees them. */
  prefixBytes: number
  /** Given the first `prefixBytes` of a longer body while the rest is on its way; throws to refuse it without reading further. */
  refuseEarly?(prefix: Buffer): void
}

/** Growth step of a body of unknown length (chunked). */
const CHUNKED_START_BYTES = 64 * 1024

/** The whole body as one Buffer that owns its memory (nothing else shares it); rejects with the refusal, or {@link UploadTooLargeError}, or {@link UploadCutShortError}. */
export function readUpload(incoming: IncomingMessage, options: UploadOptions): Promise<Buffer<ArrayBuffer>> {
  const {maxBytes, prefixBytes, refuseEarly} = options
  const declared = Number(incoming.headers['content-length'])
  const known = incoming.headers['transfer-encoding'] === undefined && Number.isSafeInteger(declared) && declared >= 0
  if (known && declared > maxBytes) return Promise.reject(new UploadTooLargeError())
  return new Promise<Buffer<ArrayBuffer>>((resolve, reject) => {
    let buffer = Buffer.allocUnsafeSlow(known ? declared : Math.min(maxBytes, CHUNKED_START_BYTES))
    let size = 0
    let judged = refuseEarly === undefined
    const cleanup = () => {
      incoming.off('data', onData)
      incoming.off('end', onEnd)
      incoming.off('error', onCutShort)
      incoming.off('close', onClose)
    }

    const fail = (error: unknown) => {
      cleanup()
      reject(error)
    }

    function onData(chunk: Buffer) {
      const end = size + chunk.length
      if (end > buffer.length) {
        if (known || end > maxBytes) {
          fail(new UploadTooLargeError())
          return
        }

        const grown = Buffer.allocUnsafeSlow(Math.min(maxBytes, Math.max(end, 2 * buffer.length)))
        buffer.copy(grown, 0, 0, size)
        buffer = grown
      }

      chunk.copy(buffer, size)
      size = end
      if (!judged && size >= prefixBytes) {
        judged = true
        try {
          refuseEarly!(buffer.subarray(0, size))
        } catch (error) {
          fail(error)
        }
      }
    }

    function onEnd() {
      cleanup()
      // A chunked body's buffer is cut to its length: the copy owns its memory, as a known length's buffer does.
      if (size === buffer.length) {
        resolve(buffer)
        return
      }

      const body = Buffer.allocUnsafeSlow(size)
      buffer.copy(body, 0, 0, size)
      resolve(body)
    }

    function onCutShort() {
      fail(new UploadCutShortError())
    }

    function onClose() {
      if (!incoming.readableEnded) onCutShort()
    }

    incoming.on('data', onData)
    incoming.once('end', onEnd)
    incoming.once('error', onCutShort)
    incoming.once('close', onClose)
  })
}
