#!/usr/bin/env bash
# Configures and builds libinfer into build/ (or $BUILD_DIR). Extra arguments go to cmake's
# configure step, e.g. scripts/build.sh -DINFER_CUDA=OFF. $TARGETS (space-separated) limits the
# build to those targets.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache
            -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
generator=()
[ -f "$BUILD_DIR/CMakeCache.txt" ] || ! command -v ninja >/dev/null || generator=(-G Ninja)
cmake -S . -B "$BUILD_DIR" "${generator[@]}" "${launcher[@]}" "$@" >&2
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j "$JOBS" "${targets[@]}" >&2
