import {expect} from 'chai'
import {once} from 'node:events'
import {mkdir, mkdtemp, rm, symlink, writeFile} from 'node:fs/promises'
import http from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {Readable} from 'node:stream'

import {UserError} from '../../src/errors.js'
import {type Input, collectInputs, readInputs} from '../../src/images/inputs.js'

const PNG_BYTES = Buffer.from('\u0089PNG fake image bytes: inputs only read, never decode')

function summary(inputs: Input[]) {
  return inputs.map((input) => (input.error ? {name: input.name, error: input.error.message} : {name: input.name, bytes: input.bytes.toString()}))
}

describe('collectInputs', () => {
  let dir: string

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'inputs-'))
    await mkdir(path.join(dir, 'photos'))
    await mkdir(path.join(dir, 'photos', 'nested'))
    await mkdir(path.join(dir, 'empty'))
    for (const name of ['b.JPG', 'a.png', 'c.tiff', 'notes.txt', '.hidden.png', 'nested/deep.png']) {
      await writeFile(path.join(dir, 'photos', name), name)
    }

    await symlink(path.join(dir, 'photos', 'a.png'), path.join(dir, 'photos', 'link.gif'))
    await symlink(path.join(dir, 'photos', 'nested'), path.join(dir, 'photos', 'folder.png'))
    await writeFile(path.join(dir, 'one.png'), PNG_BYTES)
    await writeFile(path.join(dir, 'big.png'), Buffer.alloc(2000))
  })

  after(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('reads a file, and a folder’s images sorted, not recursing, hidden files skipped', async () => {
    const inputs = await collectInputs([path.join(dir, 'one.png'), path.join(dir, 'photos')])
    expect(summary(inputs)).to.deep.equal([
      {name: path.join(dir, 'one.png'), bytes: PNG_BYTES.toString()},
      {name: path.join(dir, 'photos', 'a.png'), bytes: 'a.png'},
      {name: path.join(dir, 'photos', 'b.JPG'), bytes: 'b.JPG'},
      {name: path.join(dir, 'photos', 'c.tiff'), bytes: 'c.tiff'},
      {name: path.join(dir, 'photos', 'link.gif'), bytes: 'a.png'},
    ])
  })

  it('reports a bad input and carries on with the others', async () => {
    const missing = path.join(dir, 'missing.png')
    const inputs = await collectInputs([missing, path.join(dir, 'empty'), '', path.join(dir, 'big.png'), path.join(dir, 'one.png')], {
      maxBytes: 1000,
    })
    expect(summary(inputs)).to.deep.equal([
      {name: missing, error: `${missing}: no such file or folder; check the path`},
      {name: path.join(dir, 'empty'), error: `${path.join(dir, 'empty')}: the folder holds no image files (.png .jpg .jpeg .bmp .gif .tif .tiff)`},
      {name: '', error: 'an input path is empty; give a file, a folder, a URL or "-"'},
      {name: path.join(dir, 'big.png'), error: `${path.join(dir, 'big.png')}: too large (2000 bytes, the limit is 1000 bytes); shrink the image first`},
      {name: path.join(dir, 'one.png'), bytes: PNG_BYTES.toString()},
    ])
    for (const input of inputs) if (input.error) expect(input.error).to.be.instanceOf(UserError)
  })

  it('reads "-" from stdin once', async () => {
    const stdin = Readable.from([Buffer.from('first '), Buffer.from('chunk')])
    const inputs = await collectInputs(['-', path.join(dir, 'one.png'), '-'], {stdin})
    expect(summary(inputs)).to.deep.equal([
      {name: 'stdin', bytes: 'first chunk'},
      {name: path.join(dir, 'one.png'), bytes: PNG_BYTES.toString()},
      {name: 'stdin', error: 'stdin: "-" is given more than once, but stdin can be read only once'},
    ])
  })

  it('refuses stdin that is too large or a terminal', async () => {
    const large = await collectInputs(['-'], {stdin: Readable.from([Buffer.alloc(600), Buffer.alloc(600)]), maxBytes: 1000})
    expect(large[0].error?.message).to.equal('stdin: too large (more than the limit of 1000 bytes); shrink the image first')
    const terminal = Object.assign(Readable.from([]), {isTTY: true})
    const tty = await collectInputs(['-'], {stdin: terminal})
    expect(tty[0].error?.message).to.match(/^stdin: nothing is piped in for "-"; pipe an image/)
  })

  it('yields inputs one at a time', async () => {
    const names: string[] = []
    for await (const input of readInputs([path.join(dir, 'photos')])) names.push(path.basename(input.name))
    expect(names).to.deep.equal(['a.png', 'b.JPG', 'c.tiff', 'link.gif'])
  })
})

describe('collectInputs from URLs', () => {
  let server: http.Server
  let base: string

  before(async () => {
    server = http.createServer((request, response) => {
      switch (request.url) {
        case '/digit.png': {
          response.writeHead(200, {'content-type': 'image/png', 'content-length': PNG_BYTES.length}).end(PNG_BYTES)
          break
        }

        case '/moved': {
          response.writeHead(302, {location: '/digit.png'}).end()
          break
        }

        case '/declared-large': {
          response.writeHead(200, {'content-length': 5000}).end(Buffer.alloc(5000))
          break
        }

        case '/streamed-large': {
          // No length announced: the limit must hold while reading.
          response.writeHead(200, {'content-type': 'image/png'})
          for (let i = 0; i < 10; i++) response.write(Buffer.alloc(500))
          response.end()
          break
        }

        case '/stall': {
          // Headers never come.
          break
        }

        default: {
          response.writeHead(404, {'content-type': 'text/plain'}).end('not found')
        }
      }
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => {
      server.close(resolve)
    })
  })

  it('downloads, following redirects', async () => {
    const inputs = await collectInputs([`${base}/digit.png`, `${base}/moved`])
    expect(summary(inputs)).to.deep.equal([
      {name: `${base}/digit.png`, bytes: PNG_BYTES.toString()},
      {name: `${base}/moved`, bytes: PNG_BYTES.toString()},
    ])
  })

  it('turns HTTP errors, oversized bodies and timeouts into per-input errors', async () => {
    const inputs = await collectInputs([`${base}/nothing.png`, `${base}/declared-large`, `${base}/streamed-large`, `${base}/stall`, `${base}/digit.png`], {
      maxBytes: 1000,
      timeoutMs: 300,
    })
    expect(summary(inputs)).to.deep.equal([
      {name: `${base}/nothing.png`, error: `${base}/nothing.png: the server answered HTTP 404 Not Found; check the URL`},
      {name: `${base}/declared-large`, error: `${base}/declared-large: too large (5000 bytes, the limit is 1000 bytes); shrink the image first`},
      {
        name: `${base}/streamed-large`,
        error: `${base}/streamed-large: too large (more than the limit of 1000 bytes); shrink the image first`,
      },
      {name: `${base}/stall`, error: `${base}/stall: no complete answer within 0.3 s; check the URL or try again`},
      {name: `${base}/digit.png`, bytes: PNG_BYTES.toString()},
    ])
  })

  it('reports a refused connection', async () => {
    const closed = http.createServer()
    closed.listen(0, '127.0.0.1')
    await once(closed, 'listening')
    const {port} = closed.address() as AddressInfo
    await new Promise((resolve) => {
      closed.close(resolve)
    })
    const [input] = await collectInputs([`http://127.0.0.1:${port}/digit.png`])
    expect(input.error?.message).to.match(/^http:\/\/127\.0\.0\.1:\d+\/digit\.png: could not download it \(.*ECONNREFUSED.*\); check the URL and the network$/)
  })
})
