#!/usr/bin/env bash
# Packs this package, installs the tarball globally into a fresh prefix, and
# runs the installed `digit-classification` as a user would: --version, a short
# training run on the shipped fixtures, and a prediction of the shipped sample.png.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
npm install -g --prefix "$work/prefix" --no-audit --no-fund --prefer-offline "$work/$tarball" >"$work/install.log" 2>&1 || {
  tail -n 20 "$work/install.log" >&2
  exit 1
}

bin="$work/prefix/bin/digit-classification"
shipped="$work/prefix/lib/node_modules/digit-classification"
"$bin" --version
"$bin" train --data-dir "$shipped/fixtures/mnist" --output-dir "$work/run" --class-counts 8=70,0=24,5=6 --epochs 1 >"$work/summary.json" 2>"$work/train.log"
node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); if (!s.files.includes("best.ckpt")) process.exit(1)' "$work/summary.json"
prediction=$("$bin" predict --checkpoint-path "$work/run/best.ckpt" --input-path "$shipped/sample.png")
node -e 'const p = JSON.parse(process.argv[1]); if (![0, 5, 8].includes(p.prediction) || Object.keys(p.probs).join() !== "0,5,8") process.exit(1)' "$prediction"
echo "installed package works: $prediction"
