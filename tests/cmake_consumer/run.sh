#!/usr/bin/env bash
# Installs libinfer from BUILD_DIR into a scratch prefix, builds the consumer project against
# it with find_package(infer) (and each public header alone), and runs it: on $INFER_SMOLLM2_GGUF when set, and always on a
# missing file (which must be a clear error).
set -euo pipefail
build_dir=$1 source_dir=$2 model=${INFER_SMOLLM2_GGUF:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DINFER_HEADERS_DIR="$work/prefix/include/infer" >/dev/null
cmake --build "$work/build" >/dev/null
if [ -n "$model" ]; then
  out=$("$work/build/consumer" "$model")
  echo "$out"
  [[ $out == layers=* ]]
fi
# A missing file is a clear error, not a crash.
set +e
"$work/build/consumer" "$work/none.gguf"
rc=$?
set -e
[ $rc -eq 3 ]
