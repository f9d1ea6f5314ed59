#!/usr/bin/env bash
# Installs libinfer from BUILD_DIR into a scratch prefix and builds two host projects against it
# with find_package(infer): one with COMPONENTS core alone, where Boost and OpenSSL are made
# unfindable and the program must not link libcrypto, argon2, yaml-cpp or Boost; one with
# everything (infer::serve, every public header compiled alone). Runs both on
# $INFER_SMOLLM2_GGUF when set, and always on a missing file (which must be a clear error).
set -euo pipefail
build_dir=$1 source_dir=$2 model=${INFER_SMOLLM2_GGUF:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
for component in core serve; do
  cmake -S "$source_dir" -B "$work/$component" -DCMAKE_PREFIX_PATH="$work/prefix" \
    -DINFER_COMPONENT=$component -DINFER_HEADERS_DIR="$work/prefix/include/infer" \
    ${INFER_CONSUMER_EXTRA_LIBS:+-DINFER_CONSUMER_EXTRA_LIBS=$INFER_CONSUMER_EXTRA_LIBS} >/dev/null
  cmake --build "$work/$component" >/dev/null
  exe=$work/$component/consumer
  if [ $component = core ]; then
    # The link line and the loaded libraries: none of the server's dependencies.
    link_line=$(find "$work/core" -name link.txt -exec cat {} + 2>/dev/null || true)
    [ -n "$link_line" ] || link_line=$(grep -h -A2 "build consumer" "$work/core/build.ninja" 2>/dev/null || true)
    if grep -E -i "libcrypto|libssl|argon2|yaml-cpp|boost|libinfer\.a" <<<"$link_line"; then
      echo "run.sh: the core consumer links a server dependency (above)" >&2
      exit 1
    fi
    if ldd "$exe" | grep -E -i "libcrypto|libssl|argon2|yaml-cpp|boost"; then
      echo "run.sh: the core consumer loads a server dependency (above)" >&2
      exit 1
    fi
  fi
  if [ -n "$model" ]; then
    out=$("$exe" "$model")
    echo "$component: $out"
    [[ $out == layers=* ]]
  fi
  # A missing file is a clear error, not a crash.
  set +e
  "$exe" "$work/none.gguf"
  rc=$?
  set -e
  [ $rc -eq 3 ]
done
