#!/usr/bin/env bash
# Data-parallel overhead on this machine: 2 processes x 1 thread (c10d/Gloo over 127.0.0.1,
# batch 8 each) against 1 process x 2 threads (batch 16), the same global batch, the demo's model
# at 64x64. Images/s from the seconds column of loss.csv (start-up and ingest excluded).
# usage: bash bench/bench_distributed.sh [STEPS]   (after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-20}"
M=build/pipeline/medsynth
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
common=(train --config configs/colin27-tissue-ddpm.ini --train.steps "$STEPS" --train.checkpoint_every 1000
        --data.cache "$W/cache")
"$M" "${common[@]}" --train.out "$W/one" --train.threads 2 --train.batch 16 >/dev/null 2>&1
"$M" "${common[@]}" --train.out "$W/two" --train.threads 1 --train.batch 8 --nproc 2 >/dev/null 2>&1
rate() {  # images/s over steps 2..STEPS (the first step warms up)
  awk -F, -v b=16 'NR==3{t0=$5} NR>3{t=$5; n=NR-3} END{printf "%.2f", n*b/(t-t0)}' "$1/loss.csv"
}
one=$(rate "$W/one"); two=$(rate "$W/two")
echo "1 process x 2 threads, batch 16: $one images/s"
echo "2 processes x 1 thread, batch 8 each (Gloo): $two images/s"
awk -v a="$two" -v b="$one" 'BEGIN{printf "ratio 2x1 / 1x2: %.2f\n", a/b}'
