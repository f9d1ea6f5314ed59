#!/usr/bin/env bash
# Installs what libinfer needs to build and test: Debian packages (apt-get) and the Python test
# tools (pip, pinned in tests/requirements.txt). Safe to run again; skips what is present.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git curl
  libabsl-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  libsentencepiece-dev sentencepiece
  libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev libargon2-dev libyaml-cpp-dev libboost-dev
  clang-14 libclang-rt-14-dev clang-tidy-14
  python3 python3-pip python3-venv
  chromium chromium-driver
)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install_deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c "import sys; sys.exit(0)" 2>/dev/null; then
  echo "install_deps: no $PYTHON" >&2
  exit 1
fi
# Only pip-install when a pinned requirement is missing or at another version.
if ! "$PYTHON" - tests/requirements.txt <<'PY' 2>/dev/null
import sys, importlib.metadata as md
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, _, version = line.partition("==")
    if md.version(name) != version:
        sys.exit(1)
PY
then
  echo "install_deps: pip install -r tests/requirements.txt" >&2
  "$PYTHON" -m pip install -q --disable-pip-version-check -r tests/requirements.txt >&2 ||
    "$PYTHON" -m pip install -q --disable-pip-version-check --break-system-packages \
      -r tests/requirements.txt >&2
fi
