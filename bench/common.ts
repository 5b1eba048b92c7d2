/** Small helpers the benchmark scripts share. */
import {execFileSync, spawn} from 'node:child_process'

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/**
 * The first Python that imports `modules` (torch, and PIL for the predict
 * bench): Debian's (python3-torch installs there), else the one on PATH.
 */
export function torchPython(modules = 'torch'): string | undefined {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    try {
      execFileSync(candidate, ['-c', `import ${modules}`], {stdio: 'ignore'})
      return candidate
    } catch {
      // try the next one
    }
  }

  return undefined
}

export function torchVersion(python: string): string {
  return execFileSync(python, ['-c', 'import torch; print(torch.__version__)'], {encoding: 'utf8'}).trim()
}

/** A stderr line of a timed process and when it arrived, in seconds since the spawn. */
export interface StampedLine {
  at: number
  text: string
}

/**
 * Run `node argv…` to its end: its wall time in seconds and each stderr line
 * with the time it arrived (progress lines mark the phases of a run).
 */
export async function timeProcess(argv: string[]): Promise<{seconds: number; lines: StampedLine[]}> {
  const started = performance.now()
  const child = spawn(process.execPath, argv, {stdio: ['ignore', 'ignore', 'pipe']})
  const lines: StampedLine[] = []
  let pending = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => {
    const at = (performance.now() - started) / 1000
    pending += chunk
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      lines.push({at, text: pending.slice(0, end)})
      pending = pending.slice(end + 1)
    }
  })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  })
  const seconds = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`node ${argv.slice(0, 2).join(' ')} failed (exit ${code}): ${[...lines.map((l) => l.text), pending].filter(Boolean).at(-1)}`)
  return {seconds, lines}
}
