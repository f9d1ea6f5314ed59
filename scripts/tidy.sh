#!/usr/bin/env bash
# clang-tidy with the repository's .clang-tidy over every libinfer/ source in BUILD_DIR's
# compile_commands.json (configure with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON), JOBS at a time.
# Any warning fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
TIDY=${CLANG_TIDY:-$(command -v clang-tidy-14 || command -v clang-tidy)}
db="$BUILD_DIR/compile_commands.json"
[ -f "$db" ] || { echo "tidy.sh: no $db (configure with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)" >&2; exit 1; }
files=$(python3 - "$db" "$PWD/libinfer/" <<'PY'
import json, sys
seen = set()
for entry in json.load(open(sys.argv[1])):
    f = entry["file"]
    if f.startswith(sys.argv[2]) and f.endswith(".cc") and f not in seen:
        seen.add(f)
        print(f)
PY
)
count=$(echo "$files" | wc -l)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# clang-tidy exits non-zero on a warning-as-error; collect every file's report first.
echo "$files" | xargs -P "$JOBS" -n 4 "$TIDY" -p "$BUILD_DIR" --quiet \
  --extra-arg=-Wno-unknown-warning-option >"$out" 2>/dev/null || true
if grep -E "(warning|error):" "$out"; then
  echo "tidy.sh: clang-tidy found the problems above in libinfer/ ($count files)" >&2
  exit 1
fi
echo "tidy.sh: $count files of libinfer/ clean"
