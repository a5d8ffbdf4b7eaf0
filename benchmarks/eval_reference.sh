#!/usr/bin/env bash
# u2live eval on the authors' 18 reference images for each backend x precision x size, plotted together.
# Labels: the FULL U2-Net's published masks (tests/data/u2net/u2net_results), not human labels.
set -euo pipefail
cd "$(dirname "$0")/.."
data=tests/data/u2net
out=benchmarks/results
mkdir -p "$out"
runs=("cpu fp32 320" "cpu fp32 256" "cpu fp32 192" "cpu int8 320" "cpu int8 256" "cpu int8 192" "torch fp32 320")
for run in "${runs[@]}"; do
    read -r backend precision size <<<"$run"
    python -m u2live eval --gt "$data/u2net_results" --images "$data/test_images" --backend "$backend" \
        --precision "$precision" --size "$size" --label "$backend $precision $size" -q \
        --json "$out/eval-$backend-$precision-$size.json"
done
# the authors' own published U2-Net† masks, for reference
python -m u2live eval --gt "$data/u2net_results" --pred "$data/u2netp_results" --label "published u2netp masks" -q \
    --json "$out/eval-published-u2netp.json"
python benchmarks/eval_plot.py "$out"/eval-published-u2netp.json "$out"/eval-cpu-*.json "$out"/eval-torch-*.json \
    --plot "$out/eval-reference-pr.png" --markdown "$out/eval-reference.md"
