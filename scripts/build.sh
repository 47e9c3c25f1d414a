#!/usr/bin/env bash
# Configures and builds medsynth (Release, warnings as errors) into ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${MEDSYNTH_BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMEDSYNTH_WERROR=ON "$@"
# Two cores here; ninja uses both. Linking LibTorch users needs ~1 GiB each.
cmake --build "$BUILD_DIR" -j "$(nproc)"
