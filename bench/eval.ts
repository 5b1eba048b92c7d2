/**
 * Evaluation throughput: `npm run bench:eval`. The evaluation-mode forward
 * pass of the CNN over 1,000 images in batches of 256 on one thread, through
 * our kernel (what `evaluate`, validation and `predict` run on wasm) and
 * through PyTorch 1.13 (python3 with torch; Debian: python3-torch) under
 * `torch.no_grad()`, best of 15 each, in the same run. Random weights and
 * images: the time does not depend on the values.
 */
import {execFileSync} from 'node:child_process'
import {join} from 'node:path'
import {loadCnnKernel} from '../src/engine/cnn-kernel.js'
import {describeNetwork} from '../src/architecture.js'
import {Rng} from '../src/data/rng.js'
import {torchPython} from './common.js'
const k = loadCnnKernel(describeNetwork('cnn', 3))
if (!k) throw new Error('this Node has no WebAssembly relaxed SIMD: the kernel needs Node 22 or later')
const rng = new Rng(5)
k.params.set(k.params.map(() => rng.uniform(-0.1, 0.1)))
k.running.set(k.running.map((_, i) => (i % 32 < 16 ? 0 : 1)))
const n = 1000
const x = new Float32Array(n * 784).map(() => rng.uniform(-1, 2))
let best = Infinity
for (let i = 0; i < 15; i++) {
  const t = performance.now()
  k.infer(x, n, 1e-5, 256)
  best = Math.min(best, performance.now() - t)
}
const py = `
import time, torch, sys
sys.path.insert(0, 'bench')
from torch_cnn import Cnn
torch.set_num_threads(1)
m = Cnn().eval(); x = torch.rand(${n}, 1, 28, 28)
best = 1e9
with torch.no_grad():
    for _ in range(15):
        t = time.perf_counter(); [m(x[i:i+256]) for i in range(0, ${n}, 256)]; best = min(best, time.perf_counter() - t)
print(best * 1000)
`
const python = torchPython()
if (!python) {
  console.log(
    `evaluation forward of ${n} images, 1 thread, best of 15: ours ${best.toFixed(1)} ms (${((n / best) * 1000).toFixed(0)} images/s); PyTorch not measured (python3 with torch not found)`,
  )
  process.exit(0)
}

const torchMs = Number(execFileSync(python, ['-c', py], {encoding: 'utf8', cwd: join(import.meta.dirname, '..')}).trim())
console.log(
  `evaluation forward of ${n} images, 1 thread, best of 15: ours ${best.toFixed(1)} ms (${((n / best) * 1000).toFixed(0)} images/s), PyTorch ${torchMs.toFixed(1)} ms (${((n / torchMs) * 1000).toFixed(0)} images/s), ratio ${(best / torchMs).toFixed(2)}×`,
)
