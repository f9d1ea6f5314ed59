#!/usr/bin/env bash
# Every test: install dependencies, build with tests, fetch the real test model, run CTest
# (C++ unit tests, the Python reference tests, tokenizer exactness), then the same tests under
# AddressSanitizer + UndefinedBehaviorSanitizer, and the concurrent parts under ThreadSanitizer;
# clang-tidy over libinfer/ after the first build.
# The libFuzzer targets are built and run first.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each phase's start, with the minutes and seconds since the run began (the suite must stay
# within an hour on two cores from a cold cache; these lines say where the time goes).
phase() { echo "test.sh: [$((SECONDS / 60))m$((SECONDS % 60))s] $*" >&2; }
phase "dependencies, the test model, the llama.cpp reference, the bindings"
scripts/install_deps.sh
# The end-to-end HTTP, cluster and model-set tests need SmolLM2: without it they would skip and
# the run would pass having tested little, so a run without the model fails here (set
# INFER_ALLOW_NO_MODEL=1 to run the rest anyway, knowing that they skip).
if MODEL=$(scripts/fetch_model.sh); then
  export INFER_SMOLLM2_GGUF=$MODEL
elif [ "${INFER_ALLOW_NO_MODEL:-0}" = 1 ]; then
  echo "test.sh: could not fetch SmolLM2; INFER_ALLOW_NO_MODEL=1: the tests that need it skip" >&2
else
  echo "test.sh: could not fetch SmolLM2 (scripts/fetch_model.sh failed above); the tests that" \
    "need it would skip. Fix the fetch, or set INFER_ALLOW_NO_MODEL=1 to run without them." >&2
  exit 1
fi
JOBS=${JOBS:-$(nproc)}
# llama.cpp (llama-cpp-python built from source once, then cached) is the second independent
# reference of the K-quant and model-family tests; like the model, its absence fails the run
# unless INFER_ALLOW_NO_LLAMA_CPP=1.
if LLAMA_CPP_PYTHON=$(scripts/llama_cpp_venv.sh); then
  export INFER_LLAMA_CPP_PYTHON=$LLAMA_CPP_PYTHON
elif [ "${INFER_ALLOW_NO_LLAMA_CPP:-0}" = 1 ]; then
  echo "test.sh: no llama.cpp reference; INFER_ALLOW_NO_LLAMA_CPP=1: its tests skip" >&2
else
  echo "test.sh: could not build the llama.cpp reference (scripts/llama_cpp_venv.sh failed" \
    "above). Fix it, or set INFER_ALLOW_NO_LLAMA_CPP=1 to run without those tests." >&2
  exit 1
fi

# The Python bindings, installed as a user installs them (pip install ./bindings/python) into a
# kept virtual environment; their tests run under CTest (python_bindings).
INFER_BINDINGS_PYTHON=$(scripts/bindings_venv.sh)
export INFER_BINDINGS_PYTHON

# libFuzzer targets for the model-file readers, the auth parsers, the communicator's wire format,
# the configuration documents (users file, model set), the grammar engine (JSON Schema, regex) and
# the OpenAI request parser: built with clang, each run briefly from the committed seed files (a
# crash fails the run).
phase "fuzzers: build and run"
CC=clang-14 CXX=clang++-14 BUILD_DIR=build-fuzz \
  TARGETS="fuzz_gguf fuzz_safetensors fuzz_hf_config fuzz_jwt fuzz_login_form fuzz_config_document fuzz_comm_frame fuzz_json_schema fuzz_regex fuzz_openai_request" \
  scripts/build.sh -DINFER_BUILD_FUZZERS=ON \
  -DINFER_BUILD_TESTS=OFF -DINFER_BUILD_BENCH=OFF -DINFER_BUILD_CLI=OFF \
  -DINFER_BUILD_EXAMPLES=OFF -DINFER_CUDA=OFF
for target in fuzz_gguf fuzz_safetensors fuzz_hf_config fuzz_jwt fuzz_login_form fuzz_config_document fuzz_comm_frame fuzz_json_schema fuzz_regex fuzz_openai_request; do
  seeds=tests/data/format
  [ -d "tests/data/auth/$target" ] && seeds=tests/data/auth/$target
  [ -d "tests/data/comm/$target" ] && seeds=tests/data/comm/$target
  [ -d "tests/data/config/$target" ] && seeds=tests/data/config/$target
  [ -d "tests/data/grammar/$target" ] && seeds=tests/data/grammar/$target
  [ -d "tests/data/serve/$target" ] && seeds=tests/data/serve/$target
  mkdir -p "build-fuzz/corpus/$target"
  build-fuzz/fuzz/$target -max_total_time="${INFER_FUZZ_SECONDS:-20}" -print_final_stats=1 \
    "build-fuzz/corpus/$target" "$seeds" 2>&1 | tail -n 3
done

phase "build"
BUILD_DIR=build scripts/build.sh -DINFER_BUILD_TESTS=ON -DINFER_BUILD_BENCH=ON \
  -DINFER_BINDINGS_PYTHON="$INFER_BINDINGS_PYTHON" \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
phase "CTest"
(cd build && ctest --output-on-failure -j "$JOBS" --timeout 900)
phase "clang-tidy"
# clang-tidy with the repository's .clang-tidy over libinfer/ (warnings are errors).
BUILD_DIR=build scripts/tidy.sh
# The Kubernetes manifests: lint, schemas, a real API server, and their commands run on loopback.
# The API-server harness (kube-apiserver 1.20 + etcd + the LeaderWorkerSet CRD) is not part of
# this repository; where the development environment provides it beside the checkout, it is used.
if [ -z "${KUBE_APISERVER_SCRIPT:-}" ] && [ -x ../shared/tools/k8s/apiserver.sh ]; then
  KUBE_APISERVER_SCRIPT=$(cd ../shared/tools/k8s && pwd)/apiserver.sh
  export KUBE_APISERVER_SCRIPT
fi
phase "Kubernetes manifests"
scripts/k8s_check.sh
if [ "${INFER_SKIP_SANITIZERS:-0}" != 1 ]; then
  phase "AddressSanitizer + UndefinedBehaviorSanitizer: build and CTest"
  BUILD_DIR=build-asan scripts/build.sh -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINFER_SANITIZE=address,undefined \
    -DINFER_CUDA=OFF -DINFER_BUILD_BENCH=OFF -DINFER_BUILD_EXAMPLES=OFF
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j "$JOBS" --timeout 900 -LE slow)
  # ThreadSanitizer over the concurrent parts: the Scheduler (its stress test included), the
  # thread pool, the communicator, the cluster (ranks as threads), the device monitor and the
  # model set (leases, drains, changes).
  phase "ThreadSanitizer: build and run"
  BUILD_DIR=build-tsan TARGETS="scheduler_test util_test comm_test cluster_test placement_test model_set_test" \
    scripts/build.sh \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINFER_SANITIZE=thread -DINFER_CUDA=OFF \
    -DINFER_BUILD_TESTS=ON -DINFER_BUILD_BENCH=OFF -DINFER_BUILD_EXAMPLES=OFF -DINFER_BUILD_CLI=OFF
  TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/engine/scheduler_test
  TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/util/util_test
  TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/comm/comm_test
  TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/cluster/cluster_test --gtest_filter=-*SmolLm2*
  TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/cluster/placement_test
  TSAN_OPTIONS=halt_on_error=1 build-tsan/tests/model_set/model_set_test
fi
phase "done"
