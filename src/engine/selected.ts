/** The backend `selectBackend` activated last: read by the training step (for its threads) without importing the selection code. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu'

export interface SelectedBackend {
  name: BackendName
  /** Threads doing the maths: XNNPACK's pool for wasm (or our kernel's threads when it trains the CNN), 1 for cpu, the machine's cores for native TensorFlow. */
  threads: number
}

let selected: SelectedBackend | undefined

/** The backend chosen by the last `selectBackend`, if any. */
export function currentBackend(): SelectedBackend | undefined {
  return selected
}

export function setCurrentBackend(backend: SelectedBackend): void {
  selected = backend
}
