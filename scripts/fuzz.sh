#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (clang, ASan + UBSan) into build-fuzz/ and runs each
# for a bounded time on a seed corpus of real files (CI runs this after the tests). A crash, a
# sanitizer report, a leak or a time-out fails the script; the input that found it is saved as
# build-fuzz/findings/<target>-crash-* (commit it under tests/fuzz/regressions/ with the fix).
#   MEDSYNTH_FUZZ_SECONDS  seconds per target (default 30)
#   MEDSYNTH_FUZZ_BUILD_DIR  build folder (default build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${MEDSYNTH_FUZZ_BUILD_DIR:-build-fuzz}"
SECONDS_EACH="${MEDSYNTH_FUZZ_SECONDS:-30}"
TARGETS=(fuzz_read_volume fuzz_config fuzz_tables fuzz_manifest fuzz_stage_record fuzz_checkpoint_seal)
mkdir -p "$BUILD_DIR"
# -O1: libFuzzer's usual level, and about half the compile time of -O3 (CI's budget).
CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE=-O1 \
  -DCMAKE_CXX_FLAGS_RELEASE=-O1 -DMEDSYNTH_FUZZ=ON -DMEDSYNTH_SANITIZE=ON -DMEDSYNTH_BUILD_TESTS=OFF \
  -DMEDSYNTH_BUILD_BENCH=OFF > "$BUILD_DIR/cmake.log" 2>&1 || { cat "$BUILD_DIR/cmake.log"; exit 1; }
cmake --build "$BUILD_DIR" -j "$(nproc)" --target "${TARGETS[@]}"
rm -rf "$BUILD_DIR/corpus" "$BUILD_DIR/findings"
bash tests/fuzz/make_corpus.sh "$BUILD_DIR/corpus"
mkdir -p "$BUILD_DIR/findings" "$BUILD_DIR/logs"
# The committed regression inputs first (each must pass), then the timed runs, nproc at a time.
for t in "${TARGETS[@]}"; do
  dir="tests/fuzz/regressions/${t#fuzz_}"
  if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then "$BUILD_DIR/tests/fuzz/$t" "$dir"/* > "$BUILD_DIR/logs/$t-regressions.log" 2>&1 ||
    { cat "$BUILD_DIR/logs/$t-regressions.log"; exit 1; }; fi
done
status=0
run_one() {
  local t="$1"
  "$BUILD_DIR/tests/fuzz/$t" "$BUILD_DIR/corpus/${t#fuzz_}" -max_total_time="$SECONDS_EACH" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$BUILD_DIR/findings/$t-" > "$BUILD_DIR/logs/$t.log" 2>&1
}
pids=()
names=()
for t in "${TARGETS[@]}"; do
  run_one "$t" &
  pids+=($!)
  names+=("$t")
  if [ "${#pids[@]}" -ge "$(nproc)" ]; then
    wait "${pids[0]}" || { echo "fuzz: ${names[0]} found a problem:"; tail -40 "$BUILD_DIR/logs/${names[0]}.log"; status=1; }
    pids=("${pids[@]:1}")
    names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || { echo "fuzz: ${names[$i]} found a problem:"; tail -40 "$BUILD_DIR/logs/${names[$i]}.log"; status=1; }
done
for t in "${TARGETS[@]}"; do
  echo "fuzz: $t: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$BUILD_DIR/logs/$t.log" | grep -o '[0-9]*$') runs in ${SECONDS_EACH} s"
done
exit $status
