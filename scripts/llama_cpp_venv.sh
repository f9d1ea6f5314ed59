#!/usr/bin/env bash
# llama.cpp as the independent reference of the tests (tests/python/test_llama_cpp.py) and the
# benchmark comparisons (bench/compare_llama_cpp.py): llama-cpp-python, pinned, built once from
# its source distribution with the machine's native CPU flags into a virtual environment kept
# across runs (INFER_LLAMA_CPP_VENV, default ~/.cache/libinfer/llama-cpp-venv; about 6 minutes
# on 2 cores the first time). Prints that environment's python on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.3.36
VENV=${INFER_LLAMA_CPP_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/libinfer/llama-cpp-venv}
py="$VENV/bin/python"
# numpy and gguf at the test suite's versions: the reference scripts load files with them too.
pins=$(grep -E '^(numpy|gguf)==' tests/requirements.txt | sed 's/ .*//')
probe="import llama_cpp, numpy, gguf; assert llama_cpp.__version__ == '$VERSION'"
if [ -x "$py" ] && "$py" -c "$probe" 2>/dev/null; then
  echo "$py"
  exit 0
fi
echo "llama_cpp_venv.sh: building llama-cpp-python $VERSION from source into $VENV" >&2
python3 -m venv "$VENV" >&2
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
# shellcheck disable=SC2086
CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF ${launcher[*]}" \
  CMAKE_BUILD_PARALLEL_LEVEL=${JOBS:-$(nproc)} \
  "$VENV/bin/pip" install -q --no-binary llama-cpp-python "llama-cpp-python==$VERSION" $pins >&2
"$py" -c "$probe"
echo "$py"
