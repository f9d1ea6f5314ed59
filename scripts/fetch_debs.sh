#!/usr/bin/env bash
# Downloads (does not install) the Debian packages of libinfer's C++ build dependencies into
# FOLDER, for a GPU machine without a network: scripts/gpu_check.sh unpacks them there
# (INFER_DEB_DIR=FOLDER). Run on a Debian 12 machine with apt and a network.
set -euo pipefail
dir=${1:?usage: scripts/fetch_debs.sh FOLDER}
mkdir -p "$dir"
cd "$dir"
apt-get download \
  libabsl-dev libabsl20220623 libfmt-dev libfmt9 nlohmann-json3-dev libcli11-dev \
  libsentencepiece-dev libsentencepiece0 googletest libgtest-dev libgmock-dev \
  libbenchmark-dev libbenchmark1debian libssl-dev libargon2-dev libargon2-1 \
  libyaml-cpp-dev libyaml-cpp0.7 libboost1.74-dev libboost-dev
du -sh .
