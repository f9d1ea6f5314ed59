"""Resident memory of a loaded model: at most the file + KV cache + 64 MiB.

Weights are used in place from the mapped file (never expanded to F32), so the peak resident set
of a short generation is the mapped file, the KV cache of the tokens generated, and small fixed
overheads (tokenizer tables, activations, the logits row).
"""
import json
import os
import subprocess

import pytest

MIB = 1 << 20


def test_generate_peak_rss_within_file_plus_kv_plus_64mib(smollm2_path, cli_tool):
    if os.environ.get("INFER_SANITIZED"):
        pytest.skip("sanitizer build: its shadow memory is not the library's")
    out = subprocess.run(
        [cli_tool, "generate", "--model", smollm2_path, "--prompt", "Hello there, how are you?",
         "--max-tokens", "32", "--temperature", "0", "--ignore-eos", "--json", "--threads", "2"],
        check=True, capture_output=True, text=True).stdout
    result = json.loads(out)
    # The CLI reads its own VmHWM (peak resident set of the process image, which unlike
    # getrusage does not include the forking Python parent's pages).
    peak = result["peak_rss_bytes"]
    assert peak > 0, "infer-cli could not read /proc/self/status"
    info = json.loads(subprocess.run([cli_tool, "info", "--model", smollm2_path, "--json"],
                                     check=True, capture_output=True, text=True).stdout)
    tokens = result["prompt_tokens"] + result["completion_tokens"]
    kv = tokens * info["kv_bytes_per_token"]
    budget = os.path.getsize(smollm2_path) + kv + 64 * MIB
    assert peak <= budget, (
        f"peak RSS {peak / MIB:.1f} MiB > file {os.path.getsize(smollm2_path) / MIB:.1f} MiB + "
        f"KV {kv / MIB:.2f} MiB + 64 MiB")
