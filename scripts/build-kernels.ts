/**
 * Compiles kernels/cnn.c to kernels/cnn.wasm with Debian's clang-19 and
 * wasm-ld-19 (`apt-get install clang-19 lld-19`), and records what was built
 * from what in kernels/cnn.build.json. The .wasm is committed and shipped:
 * installing the package never compiles anything. A test checks that the
 * record matches the committed files and, where clang-19 is installed, that
 * the source still compiles to the committed bytes.
 *
 *   npm run build:kernels [-- --out DIR]
 */
import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {parseArgs} from 'node:util'

export const KERNELS = join(import.meta.dirname, '..', 'kernels')
export const CLANG = process.env.CLANG ?? 'clang-19'
export const FLAGS = [
  '--target=wasm32',
  '-O3',
  '-msimd128',
  '-mrelaxed-simd',
  // memset and memcpy (the zeroed gradients, each step) as memory.fill and memory.copy, not byte loops.
  '-mbulk-memory',
  // Adam must round after every operation, as tfjs does; the SIMD kernels fuse explicitly (relaxed_madd).
  '-ffp-contract=off',
  '-nostdlib',
  '-Wall',
  '-Werror',
  '-Wl,--no-entry',
  '-Wl,--export-memory',
  '-Wl,--export-dynamic',
  '-Wl,--strip-all',
  '-fuse-ld=/usr/bin/wasm-ld-19',
]

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** Compile into `out` (cnn.wasm + cnn.build.json); returns the record. */
export function buildKernels(out: string): {source: string; wasm: string; compiler: string; flags: string[]} {
  mkdirSync(out, {recursive: true})
  // Relative paths: nothing of this machine's layout ends up in the output.
  execFileSync(CLANG, [...FLAGS, '-o', join(out, 'cnn.wasm'), 'cnn.c'], {cwd: KERNELS, stdio: 'inherit'})
  const compiler = execFileSync(CLANG, ['--version'], {encoding: 'utf8'}).split('\n')[0].trim()
  const record = {source: sha256(readFileSync(join(KERNELS, 'cnn.c'))), wasm: sha256(readFileSync(join(out, 'cnn.wasm'))), compiler, flags: FLAGS}
  writeFileSync(join(out, 'cnn.build.json'), `${JSON.stringify(record, null, 2)}\n`)
  return record
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const {values} = parseArgs({options: {out: {type: 'string', default: KERNELS}}})
  const record = buildKernels(values.out!)
  process.stdout.write(`${join(values.out!, 'cnn.wasm')}: ${record.wasm.slice(0, 16)}… from cnn.c ${record.source.slice(0, 16)}… (${record.compiler})\n`)
}
