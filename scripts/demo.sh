#!/usr/bin/env bash
# The main job end to end: get the data, train, evaluate, predict sample.png.
# With no internet it says so and uses the bundled real sample (fixtures/mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
cli="node bin/run.js"
data_dir=${DATA_DIR:-data}
out_dir=${OUTPUT_DIR:-runs/demo}
counts=()

if $cli download-data --data-dir "$data_dir" --timeout 10 --retries 1; then
  echo "data: MNIST in $data_dir" >&2
else
  echo "data: the MNIST mirrors cannot be reached; using the bundled sample of real MNIST digits in fixtures/mnist (1,780 digits) with the same 70/24/6 proportions" >&2
  data_dir=fixtures/mnist
  counts=(--class-counts 8=500,0=171,5=43)
fi

$cli train --data-dir "$data_dir" --output-dir "$out_dir" --force "${counts[@]}"
$cli evaluate --checkpoint-path "$out_dir/best.ckpt" --data-dir "$data_dir"
$cli predict --checkpoint-path "$out_dir/best.ckpt" --input-path sample.png
