#!/usr/bin/env bash
# The Python bindings as a user installs them: `pip install ./bindings/python` into a virtual
# environment kept across runs (INFER_BINDINGS_VENV, default ~/.cache/libinfer/bindings-venv),
# with the test tools the bindings' tests use (pytest, jinja2, numpy for the shared fixtures). Reinstalls every time (the build folder
# bindings/python/build/ and ccache keep that quick after the first build, a few minutes on two
# cores). Prints that environment's python on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${INFER_BINDINGS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/libinfer/bindings-venv}
py="$VENV/bin/python"
if [ ! -x "$py" ]; then
  python3 -m venv "$VENV" >&2
fi
pins=$(grep -E '^(pytest|jinja2|numpy)==' tests/requirements.txt | sed 's/ .*//')
# shellcheck disable=SC2086
"$VENV/bin/pip" install -q $pins >&2
CMAKE_BUILD_PARALLEL_LEVEL=${JOBS:-$(nproc)} "$VENV/bin/pip" install -q ./bindings/python >&2
"$py" -c "import libinfer" >&2
echo "$py"
