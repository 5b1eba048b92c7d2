import {expect} from 'chai'
import {PassThrough} from 'node:stream'

import {createProgress, formatBytes} from '../../src/cli/progress.js'

/** A real stream that claims to be a terminal, capturing what is drawn. */
function terminal(isTTY: boolean, columns = 0): {stream: PassThrough & {isTTY: boolean; columns: number}; text: () => string} {
  const stream = Object.assign(new PassThrough(), {isTTY, columns})
  const chunks: string[] = []
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString()))
  return {stream, text: () => chunks.join('')}
}

describe('createProgress', () => {
  it('draws a bar with percent and sizes on a terminal, redrawing in place, and ends the line', async () => {
    const {stream, text} = terminal(true)
    const progress = createProgress({label: 'file.gz', total: 2_000_000, unit: 'bytes', stream, minIntervalMs: 0})

    progress.update(500_000)
    progress.update(2_000_000)
    progress.done()
    progress.update(1)
    progress.done()
    await new Promise((resolve) => setImmediate(resolve))

    const frames = text().split('\r').filter(Boolean)
    expect(frames).to.have.length(2)
    expect(frames[0]).to.match(/^file\.gz \[#+-+\]  25% 500\.0 kB\/2\.00 MB\u001B\[K$/)
    // Completion is drawn once, and done() only ends the line.
    expect(frames[1]).to.match(/^file\.gz \[#+\] 100% 2\.00 MB\/2\.00 MB\u001B\[K\n$/)
  })

  it('fits the bar to a narrow terminal and shows a plain count without a total', async () => {
    const narrow = terminal(true, 40)
    const bar = createProgress({label: 'epoch 1/20', total: 100, stream: narrow.stream, minIntervalMs: 0})
    bar.update(50)
    const unknown = terminal(true)
    const count = createProgress({label: 'batches', stream: unknown.stream, minIntervalMs: 0})
    count.update(7)
    count.done()
    await new Promise((resolve) => setImmediate(resolve))

    const line = narrow.text().slice(1).replace('\u001B[K', '')
    expect(line).to.equal('epoch 1/20 [#######-------]  50% 50/100')
    expect(line.length).to.be.below(40)
    expect(unknown.text()).to.equal('\rbatches 7\u001B[K\n')
  })

  it('throttles redraws but always draws completion', async () => {
    const {stream, text} = terminal(true)
    const progress = createProgress({label: 'x', total: 1000, stream, minIntervalMs: 60_000})
    for (let i = 1; i <= 1000; i++) progress.update(i)
    progress.done()
    await new Promise((resolve) => setImmediate(resolve))

    // The first update and the completed one; the 998 in between are skipped.
    expect(
      text()
        .split('\r')
        .filter(Boolean)
        .map((frame) => frame.split(' ').at(-1)),
    ).to.deep.equal(['1/1000\u001B[K', '1000/1000\u001B[K\n'])
  })

  it('writes nothing when the stream is not a terminal', async () => {
    const {stream, text} = terminal(false)
    const progress = createProgress({label: 'file.gz', total: 10, stream})
    progress.update(5)
    progress.done()
    await new Promise((resolve) => setImmediate(resolve))

    expect(text()).to.equal('')
  })
})

describe('formatBytes', () => {
  it('uses decimal units with three significant digits', () => {
    expect(formatBytes(0)).to.equal('0 B')
    expect(formatBytes(999)).to.equal('999 B')
    expect(formatBytes(28_881)).to.equal('28.9 kB')
    expect(formatBytes(999_990)).to.equal('1.00 MB')
    expect(formatBytes(9_912_422)).to.equal('9.91 MB')
    expect(formatBytes(1_648_877)).to.equal('1.65 MB')
    expect(formatBytes(3.2e12)).to.equal('3.20 TB')
  })
})
