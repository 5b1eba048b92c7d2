import {expect} from 'chai'
import {gunzipSync} from 'node:zlib'

import {type TarEntry, TarError, readTar} from '../../src/data/tar.js'
import {rejectionOf} from '../helpers/assert.js'
import {tarball} from '../helpers/npm-registry.js'

/** The archive fed in `size`-byte chunks, as a stream delivers it. */
async function* chunks(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size)
}

async function readAll(archive: Buffer, chunkSize: number, want = (_entry: TarEntry) => true): Promise<Array<TarEntry & {body: string}>> {
  const entries: Array<TarEntry & {body: string}> = []
  await readTar(chunks(archive, chunkSize), (entry) => {
    if (!want(entry)) return undefined
    const parts: Buffer[] = []
    return {
      write: (chunk) => parts.push(Buffer.from(chunk)),
      end: () => entries.push({...entry, body: Buffer.concat(parts).toString()}),
    }
  })
  return entries
}

const long = `package/${'deep/'.repeat(30)}file.txt`
const archive = gunzipSync(
  tarball([
    {path: 'package/a.txt', body: Buffer.from('first file')},
    {path: 'package/empty', body: Buffer.alloc(0)},
    {path: 'package/folder/', body: Buffer.alloc(0), type: '5'},
    {path: 'package/b.bin', body: Buffer.alloc(1500, 'b')},
    // A pax header naming the next entry, as npm writes long paths.
    {path: 'PaxHeader', body: paxRecord('path', long), type: 'x'},
    {path: 'package/truncated-name', body: Buffer.from('pax named')},
    // A GNU long name, as GNU tar writes them.
    {path: '././@LongLink', body: Buffer.from(`${long}.gnu\0`), type: 'L'},
    {path: 'package/short', body: Buffer.from('gnu named')},
  ]),
)

function paxRecord(key: string, value: string): Buffer {
  const text = ` ${key}=${value}\n`
  let length = text.length + 1
  while (`${length}${text}`.length !== length) length += 1
  return Buffer.from(`${length}${text}`)
}

describe('readTar', () => {
  for (const chunkSize of [1, 7, 512, 100_000]) {
    it(`reads every entry with its bytes, whatever the chunk size (${chunkSize})`, async () => {
      const entries = await readAll(archive, chunkSize)

      expect(entries.map(({path, size, type, body}) => [path, size, type, body.length > 20 ? body.slice(0, 3) : body])).to.deep.equal([
        ['package/a.txt', 10, 'file', 'first file'],
        ['package/empty', 0, 'file', ''],
        ['package/folder/', 0, 'other', ''],
        ['package/b.bin', 1500, 'file', 'bbb'],
        [long, 9, 'file', 'pax named'],
        [`${long}.gnu`, 9, 'file', 'gnu named'],
      ])
      expect(entries[3].body).to.equal('b'.repeat(1500))
    })
  }

  it('skips the bytes of entries nobody wants', async () => {
    const entries = await readAll(archive, 64, (entry) => entry.path.endsWith('.txt'))

    expect(entries.map((entry) => entry.path)).to.deep.equal(['package/a.txt', long])
  })

  it('refuses an archive cut inside an entry, saying how much is missing', async () => {
    // 512 header + 512 for a.txt + 512 header of empty + 1 folder header + 512 header of b.bin + 700 of its body.
    const cut = archive.subarray(0, 512 * 5 + 700)

    const error = await rejectionOf(readAll(cut, 100), TarError)

    expect(error.message).to.equal('the archive ends inside package/b.bin (800 of 1500 bytes missing)')
  })

  it('refuses an archive cut inside a header', async () => {
    const error = await rejectionOf(readAll(archive.subarray(0, 512 + 512 + 100), 64), TarError)

    expect(error.message).to.equal('the archive ends inside an entry header')
  })

  it('refuses bytes that are not tar', async () => {
    const error = await rejectionOf(readAll(Buffer.alloc(2048, 'x'), 512), TarError)

    expect(error.message).to.match(/^not a tar archive, or a damaged one/)
  })
})
