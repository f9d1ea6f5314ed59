"""infer-cli's contract: errors on stderr with a non-zero exit, never an abort; JSON fields."""
import json
import os
import subprocess

import pytest


def run(cli, *args):
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("content", [b"", b"GGUF", b"not a model at all" * 100,
                                     b"GGUF\x03\x00\x00\x00" + b"\xff" * 64])
def test_bad_model_files_are_clear_errors(cli_tool, tmp_path, content):
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    for sub in (["info"], ["generate", "--prompt", "hi"]):
        r = run(cli_tool, *sub, "--model", str(path))
        assert r.returncode == 1, r
        assert r.stderr.startswith("infer-cli: "), r.stderr
        assert "bad.gguf" in r.stderr
        assert "terminate" not in r.stderr and "Aborted" not in r.stderr


def test_missing_model_names_the_path_and_the_fix(cli_tool, tmp_path):
    r = run(cli_tool, "generate", "--model", str(tmp_path / "none.gguf"), "--prompt", "x")
    assert r.returncode == 1
    assert "none.gguf" in r.stderr and "fetch_model.sh" in r.stderr


def test_bad_flags_are_rejected(cli_tool, smollm2_path):
    assert run(cli_tool, "generate", "--no-such-flag").returncode != 0
    r = run(cli_tool, "generate", "--model", smollm2_path, "--prompt", "x", "--top-p", "5")
    assert r.returncode == 1 and "top_p" in r.stderr


def test_device_options_are_refused_where_they_would_be_ignored(cli_tool, smollm2_path):
    # A device that is not there is an error naming it, never a fallback to the CPU.
    r = run(cli_tool, "generate", "--model", smollm2_path, "--prompt", "x", "--device", "tpu")
    assert r.returncode == 1 and "device 'tpu'" in r.stderr, r.stderr
    # The memory share of the device not in use would be ignored: refused, naming the right one.
    r = run(cli_tool, "serve", "--model", smollm2_path, "--gpu-memory-utilization", "0.5")
    assert r.returncode == 1 and "--kv-cache-memory-fraction" in r.stderr, r.stderr
    r = run(cli_tool, "serve", "--model", smollm2_path, "--device", "cuda",
            "--kv-cache-memory-fraction", "0.5")
    assert r.returncode == 1 and "--gpu-memory-utilization" in r.stderr, r.stderr
    r = run(cli_tool, "bench", "--model", smollm2_path, "--kv-cache-dtype", "fp8")
    assert r.returncode != 0 and "auto, float32 or float16" in r.stderr, r.stderr


def test_an_unknown_kernel_level_is_refused(cli_tool, smollm2_path):
    # INFER_CPU_LEVEL caps the kernels; a value it does not know is an error, not the top level.
    env = dict(os.environ, INFER_CPU_LEVEL="avx-512")
    for sub in (["generate", "--prompt", "x"], ["serve"], ["bench"]):
        r = subprocess.run([cli_tool, *sub, "--model", smollm2_path], capture_output=True,
                           text=True, timeout=120, env=env)
        assert r.returncode == 1, (sub, r.stderr)
        assert 'INFER_CPU_LEVEL="avx-512" is not a kernel level' in r.stderr, r.stderr
        assert "portable, avx2, avx512 or amx" in r.stderr, r.stderr
    r = run(cli_tool, "generate", "--model", smollm2_path, "--prompt", "x", "--max-tokens", "1")
    assert r.returncode == 0, r.stderr


def test_generate_json_fields(cli_tool, smollm2_path):
    r = run(cli_tool, "generate", "--model", smollm2_path, "--prompt", "Hello", "--max-tokens",
            "8", "--temperature", "0", "--ignore-eos", "--json", "--threads", "1")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("text", "token_ids", "prompt_token_ids", "prompt_tokens", "completion_tokens",
                "prefill_tokens_per_second", "decode_tokens_per_second"):
        assert key in out
    assert out["completion_tokens"] == len(out["token_ids"]) == 8
    assert out["prompt_tokens"] == len(out["prompt_token_ids"])
    assert out["decode_tokens_per_second"] > 0


def test_info_json(cli_tool, smollm2_path):
    r = run(cli_tool, "info", "--model", smollm2_path, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["architecture"] == "llama" and info["num_layers"] == 30
    assert info["file_type"] == "Q4_1"
    assert info["weight_types"] == "Q4_1 x210, F32 x61, Q8_0 x1"
    assert "<|im_start|>" in info["chat_template"]


def test_bench_concurrency_json(cli_tool, smollm2_path):
    r = run(cli_tool, "bench", "--model", smollm2_path, "--threads", "2", "--prompt-tokens", "24",
            "--gen-tokens", "6", "--repetitions", "1", "--concurrency", "1,3",
            "--shared-prefix", "16", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["file_type"] == "Q4_1"
    out = json.loads(r.stdout)["scheduler"]
    assert [row["concurrency"] for row in out["levels"]] == [1, 3]
    for row in out["levels"]:
        assert row["generated_tokens_per_second"] > 0
        assert row["ttft_p50_seconds"] <= row["ttft_p99_seconds"]
        assert 0 < row["kv_blocks_peak"] <= row["kv_blocks_total"]
    # The second single request of the prefix measurement finds the 16-token prefix cached.
    assert out["prefix_cache"]["cached_prompt_tokens"] == 16
    # Every level's requests share the prefix too.
    assert out["levels"][1]["cached_prompt_tokens"] == 3 * 16
    bad = run(cli_tool, "bench", "--model", smollm2_path, "--prompt-tokens", "8",
              "--shared-prefix", "8", "--concurrency", "2")
    assert bad.returncode == 1 and "--shared-prefix" in bad.stderr


def _hub_cache(tmp_path, repo_id, files, ref="abc123", refs_main=True):
    """A Hugging Face hub cache in its own layout: models--org--name/{refs/main,snapshots/REV}."""
    repo = tmp_path / "hub" / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / ref
    snap.mkdir(parents=True)
    if refs_main:
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(ref + "\n")
    for name, target in files.items():
        (snap / name).symlink_to(target)
    return tmp_path


def test_hub_ids_resolve_in_the_hugging_face_cache(cli_tool, smollm2_path, tmp_path):
    # The seed deployment's MODEL_ID is a hub id and HF_HOME its cache.
    home = _hub_cache(tmp_path, "HuggingFaceTB/SmolLM2-135M-Instruct",
                      {"smollm2.Q4_1.gguf": smollm2_path})
    env = {"HF_HOME": str(home), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(
        [cli_tool, "info", "--model", "HuggingFaceTB/SmolLM2-135M-Instruct", "--json"],
        capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["path"].endswith("snapshots/abc123/smollm2.Q4_1.gguf")
    # HF_HUB_CACHE names the hub folder itself and wins over HF_HOME.
    r = subprocess.run([cli_tool, "info", "--model", "HuggingFaceTB/SmolLM2-135M-Instruct"],
                       capture_output=True, text=True, timeout=120,
                       env=dict(env, HF_HOME="/nonexistent", HF_HUB_CACHE=str(home / "hub")))
    assert r.returncode == 0, r.stderr


def test_hub_ids_not_in_the_cache_say_where_they_were_looked_for(cli_tool, tmp_path):
    env = {"HF_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([cli_tool, "info", "--model", "Org/Missing"], capture_output=True,
                       text=True, timeout=60, env=env)
    assert r.returncode == 1
    assert "models--Org--Missing" in r.stderr and "does not download" in r.stderr, r.stderr
    # Two snapshots and no refs/main: which one is meant is not guessed.
    _hub_cache(tmp_path, "Org/Two", {}, ref="a", refs_main=False)
    (tmp_path / "hub" / "models--Org--Two" / "snapshots" / "b").mkdir()
    r = subprocess.run([cli_tool, "info", "--model", "Org/Two"], capture_output=True, text=True,
                       timeout=60, env=env)
    assert r.returncode == 1 and "2 snapshots" in r.stderr, r.stderr


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "half", "int8"])
def test_dtypes_the_cpu_does_not_compute_in_are_refused(cli_tool, smollm2_path, dtype):
    for args, env in ((["--dtype", dtype], {}), ([], {"DTYPE": dtype})):
        r = subprocess.run([cli_tool, "serve", smollm2_path, "--port", "0", *args],
                           capture_output=True, text=True, timeout=60,
                           env={"PATH": "/usr/bin:/bin", **env})
        assert r.returncode == 1, r.stderr
        assert f"'{dtype}'" in r.stderr and "float32" in r.stderr, r.stderr
