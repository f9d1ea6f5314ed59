#!/usr/bin/env bash
# The main job: install dependencies, build, fetch the default model (SmolLM2-135M-Instruct
# Q4_1) and generate text with it. Arguments replace the default generate arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh -DINFER_BUILD_TESTS=OFF -DINFER_BUILD_BENCH=OFF
MODEL=$(scripts/fetch_model.sh)
if (($#)); then
  exec build/cli/infer-cli "$@"
fi
exec build/cli/infer-cli generate --model "$MODEL" --temperature 0 --max-tokens 96 \
  --prompt $'<|im_start|>user\nWhat is the capital of France? Answer in one paragraph.<|im_end|>\n<|im_start|>assistant\n'
