#!/usr/bin/env bash
# Every test: install dependencies, build with tests, fetch the real test model, run CTest
# (C++ unit tests, the Python reference tests, tokenizer exactness), then the same C++ tests
# under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
if MODEL=$(scripts/fetch_model.sh); then
  export INFER_SMOLLM2_GGUF=$MODEL
else
  echo "test.sh: could not fetch SmolLM2; tests that need it will skip" >&2
fi
JOBS=${JOBS:-$(nproc)}
BUILD_DIR=build scripts/build.sh -DINFER_BUILD_TESTS=ON -DINFER_BUILD_BENCH=ON
(cd build && ctest --output-on-failure -j "$JOBS" --timeout 900)
if [ "${INFER_SKIP_SANITIZERS:-0}" != 1 ]; then
  BUILD_DIR=build-asan scripts/build.sh -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINFER_SANITIZE=address,undefined \
    -DINFER_CUDA=OFF -DINFER_BUILD_BENCH=OFF -DINFER_BUILD_EXAMPLES=OFF
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j "$JOBS" --timeout 900 -LE slow)
fi
