import {expect} from 'chai'
import {mkdir, mkdtemp, readFile, readdir, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {writeFileAtomic, writeFileAtomicSync} from '../../src/util/atomic.js'

describe('writeFileAtomic', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'atomic-'))
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('writes text and bytes, replacing an existing file and leaving no temporary file', async () => {
    const path = join(dir, 'out.json')
    await writeFile(path, 'old content that is longer than the new one')
    await writeFileAtomic(path, '{"a": 1}\n')
    expect(await readFile(path, 'utf8')).to.equal('{"a": 1}\n')
    await writeFileAtomic(path, Uint8Array.from([1, 2, 3]))
    expect([...(await readFile(path))]).to.deep.equal([1, 2, 3])
    expect(await readdir(dir)).to.deep.equal(['out.json'])
  })

  it('fails without touching the target or leaving a temporary file when the rename cannot happen', async () => {
    // A folder in the way of the target makes the final rename fail after the temporary file was written.
    const target = join(dir, 'taken')
    await writeFile(join(dir, 'keep.txt'), 'keep')
    await mkdir(join(target, 'child'), {recursive: true})
    let failed: unknown
    await writeFileAtomic(target, 'data').catch((error: unknown) => {
      failed = error
    })
    expect(failed).to.be.instanceOf(Error)
    expect((await readdir(dir)).sort()).to.deep.equal(['keep.txt', 'taken'])
    expect(await readdir(target)).to.deep.equal(['child'])
  })

  it('rejects a missing folder', async () => {
    let failed: unknown
    await writeFileAtomic(join(dir, 'missing', 'x.json'), '{}').catch((error: unknown) => {
      failed = error
    })
    expect((failed as NodeJS.ErrnoException).code).to.equal('ENOENT')
  })

  it('has a synchronous twin with the same guarantees', async () => {
    const path = join(dir, 'sync.txt')
    writeFileAtomicSync(path, 'first')
    writeFileAtomicSync(path, Buffer.from('second'))
    expect(await readFile(path, 'utf8')).to.equal('second')
    await mkdir(join(dir, 'folder', 'child'), {recursive: true})
    expect(() => writeFileAtomicSync(join(dir, 'folder'), 'x')).to.throw()
    expect((await readdir(dir)).sort()).to.deep.equal(['folder', 'sync.txt'])
  })
})
