#!/usr/bin/env bash
# Runs the whole test suite through ctest (after scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${MEDSYNTH_BUILD_DIR:-build}"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" --timeout 900 "$@"
