#!/usr/bin/env bash
# Builds the libinfer image (k8s/Containerfile) with no container registry: the base root
# filesystems are made from Debian's packages with mmdebstrap, the image is built with buildah
# and exported as an OCI archive (build/image/libinfer[-cuda].oci.tar). Then it checks the image:
# the container answers /health and one completion with the model given in $INFER_SMOLLM2_GGUF
# (scripts/fetch_model.sh's, fetched when unset). Needs root (mmdebstrap, buildah with vfs).
#
#   k8s/build_image.sh            # the CPU image, libinfer:latest
#   INFER_CUDA=ON k8s/build_image.sh   # the CUDA variant, libinfer:latest-cuda (toolkit in /usr/local/cuda)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build/image}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
INFER_CUDA=${INFER_CUDA:-OFF}
TAG=latest
[ "$INFER_CUDA" = OFF ] || TAG=latest-cuda
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

need=()
for tool in mmdebstrap buildah runc curl; do command -v "$tool" >/dev/null || need+=("$tool"); done
if ((${#need[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
BUILDAH=(buildah --storage-driver vfs)
BUD=(--isolation oci --runtime runc --network host)

# A base image from a Debian root filesystem holding `packages`.
make_base() {
  local name=$1 packages=$2
  if "${BUILDAH[@]}" inspect --type image "localhost/$name:$SUITE" >/dev/null 2>&1; then return; fi
  echo "build_image: $name from Debian $SUITE ($packages)" >&2
  mmdebstrap --variant=minbase --include="$packages" --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$SUITE" "$OUT/$name.tar" "$MIRROR" >&2
  local ctr
  ctr=$("${BUILDAH[@]}" from scratch)
  "${BUILDAH[@]}" add "$ctr" "$OUT/$name.tar" / >/dev/null
  "${BUILDAH[@]}" commit --rm "$ctr" "localhost/$name:$SUITE" >/dev/null
  rm -f "$OUT/$name.tar"
}
make_base libinfer-build-base "build-essential,cmake,ninja-build,pkg-config,libabsl-dev,libfmt-dev,nlohmann-json3-dev,libcli11-dev,libsentencepiece-dev,libssl-dev,libargon2-dev,libyaml-cpp-dev,libboost-dev"
make_base libinfer-runtime-base "libabsl20220623,libsentencepiece0,libssl3,libargon2-1,libyaml-cpp0.7,libstdc++6,ca-certificates,passwd"

volumes=()
if [ "$INFER_CUDA" != OFF ]; then
  # The toolkit at its own path too: its files may link to it there.
  cuda_dir=$(readlink -f "${CUDA_HOME:-/usr/local/cuda}")
  volumes=(-v "$cuda_dir:/usr/local/cuda:ro")
  [ "$cuda_dir" = /usr/local/cuda ] || volumes+=(-v "$cuda_dir:$cuda_dir:ro")
fi
"${BUILDAH[@]}" bud "${BUD[@]}" "${volumes[@]}" -f k8s/Containerfile \
  --build-arg BUILD_BASE="localhost/libinfer-build-base:$SUITE" \
  --build-arg RUNTIME_BASE="localhost/libinfer-runtime-base:$SUITE" \
  --build-arg INFER_CUDA="$INFER_CUDA" --build-arg JOBS="$(nproc)" \
  --layers=false -t "libinfer:$TAG" . >&2
archive="$OUT/libinfer${TAG#latest}.oci.tar"
rm -f "$archive"
"${BUILDAH[@]}" push "libinfer:$TAG" "oci-archive:$archive:libinfer:$TAG" >&2
size=$("${BUILDAH[@]}" images --format '{{.Size}}' "libinfer:$TAG" 2>/dev/null | head -n 1)
echo "build_image: libinfer:$TAG, $(du -h "$archive" | cut -f1) as an OCI archive ($archive)," \
  "${size:-?} unpacked" >&2

# The container runs: /health, then one completion.
model=${INFER_SMOLLM2_GGUF:-$(scripts/fetch_model.sh)}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ctr=$("${BUILDAH[@]}" from "libinfer:$TAG")
trap '"${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true' EXIT
"${BUILDAH[@]}" run --isolation oci --runtime runc --network host \
  -v "$(dirname "$(readlink -f "$model")"):/data/model-cache:ro" "$ctr" -- \
  /usr/local/bin/infer-cli serve "/data/model-cache/$(basename "$(readlink -f "$model")")" \
  --host 127.0.0.1 --port "$port" --served-model-name smollm2 --kv-cache-memory 64M &
server=$!
for _ in $(seq 120); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { echo "build_image: the container exited" >&2; exit 1; }
  sleep 0.5
done
curl -sf "http://127.0.0.1:$port/health" >&2 && echo >&2
reply=$(curl -sf "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' \
  -d '{"model": "smollm2", "prompt": "The capital of France is", "max_tokens": 8, "temperature": 0}')
echo "build_image: completion from the container: $reply" >&2
kill -TERM "$server"
wait "$server" || true
python3 -c 'import json, sys; r = json.loads(sys.argv[1]); assert r["choices"][0]["text"], r' "$reply"
echo "build_image: ok" >&2
