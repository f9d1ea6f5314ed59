#!/usr/bin/env bash
# The model set's router: CONCURRENCY streams (64) against one model served by one replica and
# by two replicas (`infer-cli serve --models`, THREADS forward-pass threads each, 1 by default),
# rounds alternated; prints each round's aggregate generated tokens/s and the best and median
# two/one ratio. The requests carry no affinity: the router spreads them by the replicas'
# outstanding requests.
#
#   bench/serve/router.sh [MODEL.gguf]
#
# MODEL defaults to one_layer_wide.gguf of make_one_layer_model.py (SmolLM2-135M's layer
# shapes, one layer). Environment: BUILD_DIR (build), ROUNDS (3), CONCURRENCY (64), REQUESTS
# (per stream, 8), MAX_TOKENS (64), THREADS (1), PORT (8012).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
ROUNDS=${ROUNDS:-3}
CONCURRENCY=${CONCURRENCY:-64}
REQUESTS=${REQUESTS:-8}
MAX_TOKENS=${MAX_TOKENS:-64}
THREADS=${THREADS:-1}
PORT=${PORT:-8012}
dir=$(mktemp -d)
model=${1:-}
if [ -z "$model" ]; then
  python3 bench/serve/make_one_layer_model.py "$dir" >/dev/null
  model=$dir/one_layer_wide.gguf
fi
for n in 1 2; do
  cat >"$dir/replicas$n.yaml" <<EOF
models:
  - name: bench
    path: $model
    replicas: $n
    threads: $THREADS
    scheduler: {max_num_seqs: 64, kv_cache_memory: 256MiB}
EOF
done
grep -m1 "model name" /proc/cpuinfo | sed 's/.*: /cpu: /'
echo "cores: $(nproc), model: $(basename "$model"), $CONCURRENCY streams x $REQUESTS requests x $MAX_TOKENS tokens, $THREADS thread(s) per replica"

# Aggregate generated tokens/s of one run against `infer-cli serve --models FILE`.
run() {
  "$BUILD_DIR/cli/infer-cli" serve --models "$1" --port "$PORT" --models-poll 0 2>/dev/null &
  local server=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null && break
    sleep 0.1
  done
  "$BUILD_DIR/bench/serve/serve_load" --url "http://127.0.0.1:$PORT" --concurrency "$CONCURRENCY" \
    --requests "$REQUESTS" --max-tokens "$MAX_TOKENS" --prompt "Once upon a time" --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["generated_tokens_per_second"])'
  kill "$server"
  wait "$server" 2>/dev/null || true
}

ones=() twos=() ratios=()
for r in $(seq "$ROUNDS"); do
  one=$(run "$dir/replicas1.yaml")
  two=$(run "$dir/replicas2.yaml")
  ones+=("$one") twos+=("$two")
  ratios+=("$(python3 -c "print(f'{$two / $one:.3f}')")")
  printf 'round %d: one replica %.0f tok/s, two replicas %.0f tok/s, ratio %s\n' "$r" "$one" \
    "$two" "${ratios[-1]}"
done
python3 - "${ones[*]}" "${twos[*]}" "${ratios[*]}" <<'EOF'
import statistics, sys
ones, twos, ratios = ([float(x) for x in a.split()] for a in sys.argv[1:])
print(f"one replica: best {max(ones):.0f}, median {statistics.median(ones):.0f} tok/s")
print(f"two replicas: best {max(twos):.0f}, median {statistics.median(twos):.0f} tok/s")
print(f"ratio two/one: best {max(ratios):.2f}, median {statistics.median(ratios):.2f}")
EOF
rm -rf "$dir"
