#!/usr/bin/env bash
# The Kubernetes manifests' tests (tests/k8s/test_manifests.py): yamllint, kubernetes-validate
# --strict at Kubernetes 1.30, a real kube-apiserver (server-side dry runs, applies read back,
# broken variants refused) when KUBE_APISERVER_SCRIPT names a harness that starts one, and the
# manifests' own commands run on loopback against the real model. Needs a build (build/, or
# $INFER_CLI) and scripts/fetch_model.sh's model ($INFER_SMOLLM2_GGUF).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v kubectl >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    kubernetes-client >&2
fi
if [ -z "${INFER_SMOLLM2_GGUF:-}" ] && MODEL=$(scripts/fetch_model.sh); then
  export INFER_SMOLLM2_GGUF=$MODEL
fi
export INFER_CLI=${INFER_CLI:-$PWD/build/cli/infer-cli}
python3 -m pytest -q -ra -p no:cacheprovider tests/k8s
