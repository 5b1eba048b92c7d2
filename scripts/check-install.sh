#!/usr/bin/env bash
# Installs this package as a user would and uses it: `npm pack` (or the tarball
# given as $1), then `npm install -g` into a fresh prefix with NO compiler, make
# or python reachable (PATH holds only the node in use and a few basic tools),
# prints the installed size and package count, trains on the shipped sample,
# predicts the shipped sample.png, and asks a running `serve` for a prediction
# over HTTP (POST /api/predict). Runs on whichever `node` is first on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

node_bin=$(dirname "$(command -v node)")
echo "check-install: Node $("$node_bin/node" -v)"

if [ $# -ge 1 ]; then
  tarball=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
else
  tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)"
fi

# A PATH as bare as a laptop without build tools: node, npm, and a few basic commands.
npm_cli=$(readlink -f "$(command -v npm)")
tools="$work/tools"
mkdir -p "$tools"
ln -s "$npm_cli" "$tools/npm"
for tool in sh bash env cat cut du find grep head mkdir rm tail wc; do
  ln -s "$(command -v "$tool")" "$tools/$tool"
done
bare_path="$node_bin:$tools"
for compiler in cc gcc g++ c++ clang clang++ make gmake python python3; do
  if PATH="$bare_path" command -v "$compiler" >/dev/null 2>&1; then
    echo "check-install: $compiler is reachable on the bare PATH; the check would prove nothing" >&2
    exit 1
  fi
done

started=$(date +%s%N)
if ! env -u CC -u CXX -u MAKE -u PYTHON -u npm_config_python PATH="$bare_path" \
  npm install -g --prefix "$work/prefix" --no-audit --no-fund --prefer-offline "$tarball" >"$work/install.log" 2>&1; then
  tail -n 20 "$work/install.log" >&2
  echo "check-install: npm install -g failed without a compiler (log above)" >&2
  exit 1
fi
install_ms=$((($(date +%s%N) - started) / 1000000))

bin="$work/prefix/bin/digit-classification"
shipped="$work/prefix/lib/node_modules/digit-classification"
if [ ! -e "$bin" ]; then
  echo "check-install: $bin is missing or a dangling link" >&2
  exit 1
fi
size_mb=$(du -sm "$work/prefix" | cut -f1)
# Every installed package is a folder with a package.json directly under a node_modules (scoped or not).
packages=$(find "$shipped/node_modules" -name package.json \( -regex '.*/node_modules/[^/@][^/]*/package.json' -o -regex '.*/node_modules/@[^/]*/[^/]*/package.json' \) | wc -l)
echo "check-install: installed in $((install_ms / 1000)).$(((install_ms % 1000) / 100)) s: ${size_mb} MB, ${packages} packages"
if grep -qi 'gyp\|node-pre-gyp\|prebuild' "$work/install.log"; then
  echo "check-install: the install tried to build something:" >&2
  cat "$work/install.log" >&2
  exit 1
fi

# From here on, the user's PATH: the installed binary finds `node` through its shebang.
export PATH="$bare_path"
"$bin" --version
"$bin" train --data-dir "$shipped/fixtures/mnist" --output-dir "$work/run" --class-counts 8=70,0=24,5=6 --epochs 1 >"$work/summary.json" 2>"$work/train.log" || {
  cat "$work/train.log" >&2
  exit 1
}
node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); if (!s.files.includes("best.ckpt")) process.exit(1)' "$work/summary.json"
prediction=$("$bin" predict --checkpoint-path "$work/run/best.ckpt" --input-path "$shipped/sample.png")
node -e 'const p = JSON.parse(process.argv[1]); if (![0, 5, 8].includes(p.prediction) || Object.keys(p.probs).join() !== "0,5,8") process.exit(1)' "$prediction"
echo "check-install: predict sample.png: $prediction"

# serve on a free port (--port 0 picks one and says which), POST the sample, stop it.
"$bin" serve --port 0 --checkpoint-path "$work/run/best.ckpt" --data-dir "$work/data" --runs-dir "$work/runs" 2>"$work/serve.log" &
server_pid=$!
node - "$work/serve.log" "$shipped/sample.png" <<'JS'
const {readFileSync} = require('node:fs')
const [log, image] = process.argv.slice(2)
const deadline = Date.now() + 60_000
;(async () => {
  let url
  while (!url) {
    url = /serving on (http:\/\/\S+)/.exec(readFileSync(log, 'utf8'))?.[1]
    if (!url && Date.now() > deadline) throw new Error(`serve did not start: ${readFileSync(log, 'utf8')}`)
    if (!url) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const response = await fetch(`${url}/api/predict`, {method: 'POST', headers: {'content-type': 'image/png'}, body: readFileSync(image)})
  const body = await response.json()
  if (response.status !== 200 || ![0, 5, 8].includes(body.prediction) || typeof body.id !== 'number') {
    throw new Error(`POST /api/predict answered ${response.status}: ${JSON.stringify(body)}`)
  }
  console.log(`check-install: serve ${url} POST /api/predict: prediction ${body.prediction}, logged as #${body.id}`)
})().catch((error) => {
  console.error(`check-install: ${error.message}`)
  process.exit(1)
})
JS
kill -TERM "$server_pid"
wait "$server_pid" || true
server_pid=
if grep -q 'ExperimentalWarning' "$work/serve.log" "$work/train.log"; then
  echo "check-install: a Node warning reached the user:" >&2
  cat "$work/serve.log" >&2
  exit 1
fi
echo "check-install: the installed package works on Node $(node -v)"
