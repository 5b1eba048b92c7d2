/**
 * A real HTTP server on 127.0.0.1 whose answers the test scripts per path:
 * serve bytes, answer a status, drop the connection mid-body, stall, redirect.
 * Each request to a path takes the next behaviour in its queue; the last one
 * repeats. Every request is recorded so a test can count network I/O.
 */
import {once} from 'node:events'
import http from 'node:http'
import type {AddressInfo, Socket} from 'node:net'

export type Behaviour =
  /** 200 with Content-Length and the whole body. */
  | {kind: 'serve'; body: Buffer | string; headers?: Record<string, string>}
  /** A bare status code (404, 500, …) with a short text body. */
  | {kind: 'status'; status: number}
  /** Promise the whole body, send `after` bytes, then reset the connection. */
  | {kind: 'drop'; body: Buffer; after: number}
  /** Send headers and `after` bytes of the body (none by default), then go silent. */
  | {kind: 'stall-body'; body: Buffer; after?: number}
  /** Accept the request and never answer, not even headers. */
  | {kind: 'stall-headers'}
  /** 302 to another location (absolute or relative). */
  | {kind: 'redirect'; location: string}

export interface RecordedRequest {
  method: string
  path: string
}

export interface TestServer {
  /** Base URL with a trailing slash, e.g. `http://127.0.0.1:40123/`. */
  readonly url: string
  readonly port: number
  /** Every request received, in order. */
  readonly requests: RecordedRequest[]
  /** Script the answers for `path` (leading slash), replacing earlier ones. */
  on(path: string, ...behaviours: Behaviour[]): void
  /** Requests received for one path. */
  count(path: string): number
  /** Stop listening and cut every open connection, stalled ones included. */
  close(): Promise<void>
}

export async function startTestServer(): Promise<TestServer> {
  const routes = new Map<string, Behaviour[]>()
  const requests: RecordedRequest[] = []
  const sockets = new Set<Socket>()

  const server = http.createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname
    requests.push({method: request.method ?? 'GET', path})
    const queue = routes.get(path)
    const behaviour = queue && queue.length > 1 ? queue.shift() : queue?.[0]
    answer(behaviour, response)
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })

  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const {port} = server.address() as AddressInfo

  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    requests,
    on(path, ...behaviours) {
      routes.set(path, behaviours)
    },
    count(path) {
      return requests.filter((request) => request.path === path).length
    },
    async close() {
      for (const socket of sockets) socket.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
      })
    },
  }
}

function answer(behaviour: Behaviour | undefined, response: http.ServerResponse): void {
  if (behaviour === undefined) {
    response.writeHead(404, {'content-type': 'text/plain'}).end('not found\n')
    return
  }

  switch (behaviour.kind) {
    case 'serve': {
      const body = Buffer.from(behaviour.body)
      response.writeHead(200, {'content-length': body.length, 'content-type': 'application/octet-stream', ...behaviour.headers})
      response.end(body)
      return
    }

    case 'status': {
      response.writeHead(behaviour.status, {'content-type': 'text/plain'}).end(`status ${behaviour.status}\n`)
      return
    }

    case 'drop': {
      response.writeHead(200, {'content-length': behaviour.body.length, 'content-type': 'application/octet-stream'})
      response.write(behaviour.body.subarray(0, behaviour.after), () => {
        response.socket?.destroy()
      })
      return
    }

    case 'stall-body': {
      response.writeHead(200, {'content-length': behaviour.body.length, 'content-type': 'application/octet-stream'})
      response.flushHeaders()
      if (behaviour.after) response.write(behaviour.body.subarray(0, behaviour.after))
      return
    }

    case 'stall-headers': {
      return
    }

    case 'redirect': {
      response.writeHead(302, {location: behaviour.location}).end()
    }
  }
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function unusedPort(): Promise<number> {
  const server = http.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const {port} = server.address() as AddressInfo
  await new Promise<void>((resolve) => {
    server.close(() => resolve())
  })
  return port
}
