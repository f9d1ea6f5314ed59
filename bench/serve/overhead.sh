#!/usr/bin/env bash
# The server's own overhead: the same streaming workload submitted directly to a Scheduler
# (serve_load --model) and through HTTP to `infer-cli serve` (serve_load --url), alternated
# ROUNDS times on one machine; prints each pair and the median HTTP/direct ratio.
#
#   bench/serve/overhead.sh [MODEL.gguf] [THREADS]
#
# MODEL defaults to a 1-layer model made by make_one_layer_model.py. Environment: BUILD_DIR
# (build), ROUNDS (5), CONCURRENCY (32), REQUESTS (per stream, 40), MAX_TOKENS (64), PORT (8011),
# SERVE_FLAGS (more `infer-cli serve` flags, e.g. "--stream-interval-ms 0").
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
ROUNDS=${ROUNDS:-5}
CONCURRENCY=${CONCURRENCY:-32}
REQUESTS=${REQUESTS:-40}
MAX_TOKENS=${MAX_TOKENS:-64}
PORT=${PORT:-8011}
model=${1:-}
threads=${2:-1}
if [ -z "$model" ]; then
  dir=$(mktemp -d)
  python3 bench/serve/make_one_layer_model.py "$dir" >/dev/null
  model=$dir/one_layer.gguf
fi
load=("$BUILD_DIR/bench/serve/serve_load" --concurrency "$CONCURRENCY" --requests "$REQUESTS"
      --max-tokens "$MAX_TOKENS" --prompt "Once upon a time" --json)
"$BUILD_DIR/cli/infer-cli" serve "$model" --port "$PORT" --threads "$threads" \
  --kv-cache-memory 512M ${SERVE_FLAGS:-} 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break
  sleep 0.2
done
rate() { python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["generated_tokens_per_second"])'; }
ratios=()
for r in $(seq "$ROUNDS"); do
  direct=$("${load[@]}" --model "$model" --threads "$threads" | rate)
  http=$("${load[@]}" --url "http://127.0.0.1:$PORT" | rate)
  ratio=$(python3 -c "print(f'{$http / $direct:.3f}')")
  ratios+=("$ratio")
  printf 'round %d: direct %.0f tok/s, http %.0f tok/s, ratio %s\n' "$r" "$direct" "$http" "$ratio"
done
python3 -c "import statistics,sys; print('median ratio', statistics.median(map(float, sys.argv[1:])))" \
  "${ratios[@]}"
