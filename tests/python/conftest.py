"""Shared fixtures for libinfer's Python end-to-end tests.

Environment (set by CTest, see CMakeLists.txt; every test needing one skips
with a message when it is unset or the file is missing):
  INFER_LOGITS_TOOL      path of the infer_logits tool
  INFER_CLI              path of infer-cli
  INFER_SMOLLM2_GGUF     SmolLM2-135M-Instruct Q4_1 GGUF (scripts/fetch_model.sh)
  INFER_TEST_MODELS_DIR  where to keep the tiny models (default: a pytest tmp dir)
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import make_tiny_models  # noqa: E402  pylint: disable=wrong-import-position
import reference_llama  # noqa: E402  pylint: disable=wrong-import-position

TOOL_TIMEOUT_S = 900
# A reference top-two gap under this fraction of the row's largest |logit| is a near-tie, which
# activation rounding may legitimately flip (test_forward.py, test_llama_cpp.py).
NEAR_TIE_FRAC = 0.01


def _tool(env_var):
    path = os.environ.get(env_var)
    if not path:
        pytest.skip(f"{env_var} is not set (CTest sets it; or export it by hand)")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.skip(f"{env_var}={path} does not exist or is not executable (not built yet?)")
    return path


@pytest.fixture(scope="session")
def logits_tool():
    return _tool("INFER_LOGITS_TOOL")


@pytest.fixture(scope="session")
def dequantize_tool():
    return _tool("INFER_DEQUANTIZE_TOOL")


class LlamaCpp:
    """llama.cpp through llama-cpp-python's interpreter (tests/python/llama_cpp_ref.py)."""

    SCRIPT = os.path.join(HERE, "llama_cpp_ref.py")

    def __init__(self, python):
        self.python = python

    def _run(self, *args):
        proc = subprocess.run([self.python, self.SCRIPT, *map(str, args)], capture_output=True,
                              text=True, timeout=TOOL_TIMEOUT_S, check=False)
        assert proc.returncode == 0, f"llama_cpp_ref.py {args[0]} failed:\n{proc.stderr[-3000:]}"

    def quantize(self, src, dst, ftype):
        self._run("quantize", src, dst, ftype)

    def logits(self, model, tokens, out_path):
        self._run("logits", model, ",".join(str(int(t)) for t in tokens), out_path)
        return np.load(out_path).astype(np.float64)


@pytest.fixture(scope="session")
def llama_cpp():
    return LlamaCpp(_tool("INFER_LLAMA_CPP_PYTHON"))


@pytest.fixture(scope="session")
def cli_tool():
    return _tool("INFER_CLI")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """The manifest of make_tiny_models (made once, then reused while the generator is the same;
    CTest makes them before the test files run in parallel)."""
    out_dir = os.environ.get("INFER_TEST_MODELS_DIR") or str(
        tmp_path_factory.mktemp("tiny_models"))
    return make_tiny_models.ensure_all(out_dir)


class _RefCache:
    """Memoizes reference models (loading SmolLM2 takes seconds)."""

    def __init__(self):
        self.models = {}

    def model(self, path):
        if path not in self.models:
            self.models[path] = reference_llama.load(path)
        return self.models[path]


@pytest.fixture(scope="session")
def ref_cache():
    return _RefCache()


@pytest.fixture(scope="session")
def smollm2_path():
    path = os.environ.get("INFER_SMOLLM2_GGUF")
    if not path:
        pytest.skip("INFER_SMOLLM2_GGUF is not set: run scripts/fetch_model.sh and "
                    "configure with -DINFER_SMOLLM2_GGUF=<printed path>")
    if not os.path.isfile(path):
        pytest.skip(f"INFER_SMOLLM2_GGUF={path} does not exist")
    return path


def run_logits_tool(tool, model_path, tokens, out_path, vocab_size):
    """Runs the logits tool; returns float32 logits [len(tokens), vocab_size]."""
    cmd = [tool, "--model", str(model_path), "--tokens", ",".join(map(str, tokens)),
           "--out", str(out_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert result.returncode == 0, (
        f"{' '.join(cmd[:3])} ... exited {result.returncode}\nstderr:\n{result.stderr[-4000:]}")
    data = np.fromfile(out_path, dtype="<f4")
    expected = len(tokens) * vocab_size
    assert data.size == expected, (
        f"logits file has {data.size} floats, expected {len(tokens)} x {vocab_size}")
    return data.reshape(len(tokens), vocab_size)


def run_generate(cli, model_path, prompt, max_tokens):
    """Runs `infer-cli generate ... --temperature 0 --json`; returns the parsed JSON."""
    cmd = [cli, "generate", "--model", str(model_path), "--prompt", prompt,
           "--max-tokens", str(max_tokens), "--temperature", "0", "--json"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert result.returncode == 0, (
        f"infer-cli generate exited {result.returncode}\nstderr:\n{result.stderr[-4000:]}")
    try:
        out = json.loads(result.stdout)
    except json.JSONDecodeError as e:
        raise AssertionError(f"infer-cli generate --json printed no JSON object ({e}):\n"
                             f"{result.stdout[-2000:]}") from e
    for key in ("text", "token_ids", "prompt_token_ids", "prompt_tokens",
                "completion_tokens", "prefill_tokens_per_second",
                "decode_tokens_per_second"):
        assert key in out, f"generate --json output lacks {key!r}: {sorted(out)}"
    return out


@pytest.fixture(scope="module")
def server(cli_tool, smollm2_path):
    """`infer-cli serve` with SmolLM2 as "smollm2", one per test module (a module may define
    its own `server` to serve something else)."""
    from served import ServerProcess  # pylint: disable=import-outside-toplevel
    s = ServerProcess(cli_tool, smollm2_path, "--served-model-name", "smollm2")
    yield s
    assert s.stop() == 0, "".join(s.lines[-20:])


@pytest.fixture(scope="module")
def client(server):
    """The official openai client for `server`."""
    import openai  # pylint: disable=import-outside-toplevel
    return openai.OpenAI(base_url=server.url() + "/v1", api_key="unused", max_retries=0,
                         timeout=300)
