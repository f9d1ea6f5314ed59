#!/usr/bin/env bash
# The GPU check: one command on a machine with an NVIDIA GPU that configures libinfer with CUDA,
# builds the device tests, the GPU benchmark and infer-cli, runs the tests (a test that skips for
# want of a GPU counts as a failure here), runs the benchmarks, prints a summary, and exits
# non-zero on any failure. About 8 minutes on an H100/H200 machine with 16 cores.
#
# Needs: the CUDA toolkit (nvcc, cuBLASLt) and libinfer's C++ dependencies (scripts/install_deps.sh
# installs them where apt works). A machine without a network takes them as .deb files instead:
# INFER_DEB_DIR=FOLDER (filled by scripts/fetch_debs.sh elsewhere); they are unpacked under the
# build folder, not installed.
# Environment: BUILD (build folder, default build-gpu); CUDA_ARCHS (default native: the GPU at
# hand); OUT (logs and the benchmark's JSON,
# default $BUILD/gpu-check); INFER_SMOLLM2_GGUF (the real model: its greedy tokens on the GPU
# against the CPU's, and `infer-cli bench --device cuda` on it; skipped without it).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-gpu}
OUT=${OUT:-$BUILD/gpu-check}
mkdir -p "$OUT"
JOBS=$(nproc)
SUMMARY=()
status=0

# step NAME COMMAND...: runs COMMAND with its output in $OUT/NAME.log; records the result.
step() {
  local name=$1
  shift
  local t0=$SECONDS
  echo "== $name" >&2
  if "$@" >"$OUT/$name.log" 2>&1; then
    SUMMARY+=("ok    $name ($((SECONDS - t0)) s)")
    return 0
  fi
  SUMMARY+=("FAIL  $name ($((SECONDS - t0)) s): $OUT/$name.log")
  status=1
  tail -40 "$OUT/$name.log" >&2
  return 1
}

finish() {
  echo
  echo "gpu_check summary ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)):"
  printf '  %s\n' "${SUMMARY[@]}"
  exit $status
}

step gpu nvidia-smi -L || finish

if [ -n "${INFER_DEB_DIR:-}" ]; then
  DEPS=$(realpath -m "$BUILD/deps")
  unpack() { for f in "$INFER_DEB_DIR"/*.deb; do dpkg-deb -x "$f" "$DEPS" || return 1; done; }
  step deps unpack || finish
  export CMAKE_PREFIX_PATH="$DEPS/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
  export PKG_CONFIG_SYSROOT_DIR="$DEPS"
  export PKG_CONFIG_PATH="$DEPS/usr/lib/x86_64-linux-gnu/pkgconfig:$DEPS/usr/share/pkgconfig"
  export LD_LIBRARY_PATH="$DEPS/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CPATH="$DEPS/usr/include${CPATH:+:$CPATH}"
fi

step configure cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DINFER_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-native}" || finish
TESTS=(backend_test backend_ops_test split_weight_test cuda_launch_test flat_batch_test
       device_runner_test comm_test)
TARGETS=("${TESTS[@]}" bench_device_model infer-cli)
existing=()
for t in "${TARGETS[@]}"; do
  ninja -C "$BUILD" -t query "$t" >/dev/null 2>&1 && existing+=("$t")
done
step build cmake --build "$BUILD" -j "$JOBS" --target "${existing[@]}" || finish

# Every test binary; on this machine a CUDA test must run, not skip.
run_test() {
  local bin
  bin=$(find "$BUILD/tests" -type f -name "$1" -perm -u+x | head -1)
  [ -n "$bin" ] || { echo "no $1 built"; return 1; }
  "$bin" --gtest_brief=0 || return 1
  if "$bin" --gtest_filter='*cuda*:*Cuda*:*Gpu*' 2>&1 | grep -E '^\[  SKIPPED \] [^0-9]' |
      grep -v SmolLm2; then
    echo "$1: a device test skipped on a machine with a GPU"
    return 1
  fi
}
for t in "${TESTS[@]}"; do
  [[ " ${existing[*]} " == *" $t "* ]] && step "test_$t" run_test "$t"
done

# Google Benchmark exits 0 when a benchmark reports an error: look for one.
run_bench() {
  "$BUILD/bench/device/bench_device_model" --benchmark_out="$OUT/bench_device_model.json" \
    --benchmark_out_format=json --benchmark_counters_tabular=true 2>&1 | tee "$OUT/bench.txt"
  ! grep -q "ERROR OCCURRED" "$OUT/bench.txt"
}
step bench_device_model run_bench

if [ -n "${INFER_SMOLLM2_GGUF:-}" ] && [ -f "$INFER_SMOLLM2_GGUF" ]; then
  step bench_smollm2_cuda "$BUILD/cli/infer-cli" bench --device cuda --model "$INFER_SMOLLM2_GGUF" \
    --prompt-tokens 512 --gen-tokens 128 --concurrency 1,16,64
else
  SUMMARY+=("skip  bench_smollm2_cuda (INFER_SMOLLM2_GGUF not set)")
fi
echo >&2
cat "$OUT/bench_device_model.log" >&2 2>/dev/null
finish
