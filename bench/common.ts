/** Small helpers the benchmark scripts share. */
import {execFileSync} from 'node:child_process'

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
