#!/usr/bin/env bash
# The main job: install dependencies, build, fetch the default model (SmolLM2-135M-Instruct
# Q4_1) and serve it: the OpenAI-compatible API on http://127.0.0.1:8000 until SIGINT/SIGTERM.
# Arguments replace the default `serve` arguments (e.g. `scripts/run.sh generate --prompt Hi`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh -DINFER_BUILD_TESTS=OFF -DINFER_BUILD_BENCH=OFF
MODEL=$(scripts/fetch_model.sh)
if (($#)); then
  exec build/cli/infer-cli "$@"
fi
exec build/cli/infer-cli serve "$MODEL"
