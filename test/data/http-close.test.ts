import {createServer} from 'node:net'
import type {AddressInfo} from 'node:net'

import {expect} from 'chai'
import {fetch} from 'undici'

/**
 * The downloader and `predict URL` read response bodies at their own pace, so
 * undici's parser is paused whenever the reader is slower than the network. A
 * server that then closes the connection (Connection: close, FIN) ended the
 * process with an assertion nothing could catch in undici 7
 * (nodejs/undici#5360). This pins what the code relies on since undici 8: the
 * response completes, whole.
 */
describe('HTTP client: a server closing the connection while the body waits', () => {
  it('delivers the whole body instead of crashing', async () => {
    const body = Buffer.alloc(64 * 1024, 0x61)
    const server = createServer((socket) => {
      socket.once('data', () => {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`)
        socket.end(body)
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const {port} = server.address() as AddressInfo
      const response = await fetch(`http://127.0.0.1:${port}/`)
      // Not reading yet: the parser pauses under backpressure, and the server's FIN arrives meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect((await response.arrayBuffer()).byteLength).to.equal(body.length)
    } finally {
      server.close()
    }
  })
})
