/**
 * Hostile images, built at test time (a few bytes to a few megabytes each):
 * files whose structure makes a naive decoder loop, allocate gigabytes or spend
 * minutes. Each is small and valid as far as its header goes.
 */

/** One little-endian TIFF entry: tag, type, count, value or offset. */
function tiffEntry(tag: number, type: number, count: number, value: number): Buffer {
  const entry = Buffer.alloc(12)
  entry.writeUInt16LE(tag, 0)
  entry.writeUInt16LE(type, 2)
  entry.writeUInt32LE(count, 4)
  if (type === 3 && count === 1) entry.writeUInt16LE(value, 8)
  else entry.writeUInt32LE(value, 8)
  return entry
}

/** A TIFF of one image file directory at offset 8 holding `entries`, then `next` (the next directory's offset), then `tail`. */
function tiff(entries: Buffer[], next: number, tail: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.from([0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0])
  const count = Buffer.alloc(2)
  count.writeUInt16LE(entries.length)
  const nextOffset = Buffer.alloc(4)
  nextOffset.writeUInt32LE(next)
  return Buffer.concat([header, count, ...entries, nextOffset, tail])
}

const SHORT = 3
const LONG = 4

/** A 1×1 grayscale page: width, height, 8 bits, uncompressed, one strip of one byte at `stripAt`. */
function onePixelPage(stripAt: number): Buffer[] {
  return [
    tiffEntry(256, SHORT, 1, 1),
    tiffEntry(257, SHORT, 1, 1),
    tiffEntry(258, SHORT, 1, 8),
    tiffEntry(259, SHORT, 1, 1),
    tiffEntry(262, SHORT, 1, 1),
    tiffEntry(273, LONG, 1, stripAt),
    tiffEntry(277, SHORT, 1, 1),
    tiffEntry(278, SHORT, 1, 1),
    tiffEntry(279, LONG, 1, 1),
  ]
}

/** A one-page TIFF whose "next page" offset points back at its own page: the page list never ends. */
export function selfLoopingTiff(): Buffer {
  const entries = onePixelPage(0)
  const stripAt = 8 + 2 + 12 * entries.length + 4
  const file = tiff(onePixelPage(stripAt), 8, Buffer.from([0x80]))
  // Padded with text to the size of the reported file; the padding is never read.
  return Buffer.concat([file, Buffer.alloc(201 - file.length, 0x20)])
}

/** 50 bytes: width and height, then strip offsets claiming 2^30 entries (4 GiB of them) in a 50-byte file. */
export function hugeTagCountTiff(): Buffer {
  return tiff([tiffEntry(256, SHORT, 1, 1), tiffEntry(257, SHORT, 1, 1), tiffEntry(273, LONG, 2 ** 30, 8)], 0)
}

/** A 1×1 page whose EXIF directory (tag 34665) is the page itself: a reader that follows it recurses without end. */
export function selfNestedTiff(): Buffer {
  const entries = onePixelPage(0)
  const stripAt = 8 + 2 + 12 * (entries.length + 1) + 4
  return tiff([...onePixelPage(stripAt), tiffEntry(34665, LONG, 1, 8)], 0, Buffer.from([0x80]))
}

/** A BMP whose header claims `width`×`height` pixels of 24 bits, followed by `total` bytes in all (a few rows at most). */
export function hugeBmp(width = 9999, height = 4000, total = 154): Buffer {
  const file = Buffer.alloc(total)
  file.write('BM', 0, 'latin1')
  file.writeUInt32LE(total, 2)
  file.writeUInt32LE(54, 10)
  file.writeUInt32LE(40, 14)
  file.writeInt32LE(width, 18)
  file.writeInt32LE(height, 22)
  file.writeUInt16LE(1, 26)
  file.writeUInt16LE(24, 28)
  file.writeUInt32LE(0, 30)
  return file
}

function segment(marker: number, body: Buffer | number[]): Buffer {
  const data = Buffer.from(body)
  const head = Buffer.alloc(4)
  head.writeUInt16BE(marker, 0)
  head.writeUInt16BE(data.length + 2, 2)
  return Buffer.concat([head, data])
}

/** Bits written most significant first, with the 0xFF00 byte stuffing of JPEG entropy-coded data. */
function entropyBytes(bits: string): Buffer {
  const padded = bits + '1'.repeat((8 - (bits.length % 8)) % 8)
  const out: number[] = []
  for (let i = 0; i < padded.length; i += 8) {
    const byte = Number.parseInt(padded.slice(i, i + 8), 2)
    out.push(byte)
    if (byte === 0xff) out.push(0x00)
  }

  return Buffer.from(out)
}

/**
 * A progressive grayscale JPEG of `width`×`height` pixels with `scans` AC scans.
 * Each AC scan is a few end-of-band runs (32,767 blocks each) covering every
 * block: about 30 bytes in the file, but one pass over all blocks for a
 * decoder. The defaults (4000×4000, 160,000 scans, 4.8 MB) cost a naive
 * decoder minutes.
 */
export function progressiveScanBomb(scans = 160_000, width = 4000, height = width): Buffer {
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8)
  const soi = Buffer.from([0xff, 0xd8])
  const dqt = segment(0xffdb, [0x00, ...Array.from({length: 64}, () => 1)])
  const sof = segment(0xffc2, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 1, 1, 0x11, 0])
  // DC table 0: one code "0" for difference category 0; AC table 0: one code "0" for EOBRUN 2^14 + 14 bits.
  const dht = segment(0xffc4, [0x00, 1, ...Array.from({length: 15}, () => 0), 0x00, 0x10, 1, ...Array.from({length: 15}, () => 0), 0xe0])
  const dcScan = Buffer.concat([segment(0xffda, [1, 1, 0x00, 0, 0, 0x00]), entropyBytes('0'.repeat(blocks))])
  const runs = Math.ceil(blocks / 32_767)
  const acData = entropyBytes(('0' + '1'.repeat(14)).repeat(runs))
  const acScan = Buffer.concat([segment(0xffda, [1, 1, 0x00, 1, 63, 0x00]), acData])
  const eoi = Buffer.from([0xff, 0xd9])
  return Buffer.concat([soi, dqt, sof, dht, dcScan, ...Array.from({length: scans}, () => acScan), eoi])
}

/** The hostile images a decoder must refuse, each with its name and the reason it is refused for. */
export function hostileImages(): {name: string; bytes: Buffer; reason: RegExp}[] {
  return [
    {name: 'loop.tif', bytes: selfLoopingTiff(), reason: /the TIFF image is corrupt or truncated \(its list of pages loops back on itself\)/},
    {
      name: 'count.tif',
      bytes: hugeTagCountTiff(),
      reason: /the TIFF image is corrupt or truncated \(tag 273 claims 1,073,741,824 values, more than the file holds\)/,
    },
    {name: 'scans.jpg', bytes: progressiveScanBomb(), reason: /the JPEG image is refused: it has scans that make more than 32 passes over its pixels/},
    {name: 'huge.bmp', bytes: hugeBmp(), reason: /the BMP image is corrupt or truncated \(its 9999×4000 pixels need 119,999,997 bytes, the file holds 100\)/},
  ]
}

/**
 * A 1×1 page with one private tag of `count` RATIONAL values (8 bytes each):
 * a valid file, but a decoder that parses every tag builds a small array for
 * each value, filling its heap a little at a time.
 */
export function manyValuesTiff(count: number): Buffer {
  const entries = onePixelPage(0)
  const stripAt = 8 + 2 + 12 * (entries.length + 1) + 4
  return tiff([...onePixelPage(stripAt), tiffEntry(65_000, 5, count, stripAt + 1)], 0, Buffer.concat([Buffer.from([0x80]), Buffer.alloc(8 * count, 0x11)]))
}
