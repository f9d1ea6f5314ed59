"""libinfer's forward pass and greedy generation against the NumPy reference.

Metrics (per position = per row of the [T, vocab] logits):
  relative error  max_j |cpp_j - ref_j| / max_j |ref_j|
  cosine          <cpp, ref> / (|cpp| |ref|)

Tolerances:
  * F32 weights: the C++ computes in float32, the reference in float64 on the
    same weights, so only float32 rounding differs: relative error < 1e-4.
  * F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 weights: the reference uses the file's exact
    (dequantized) weight values, but the C++ may round activations to the weight
    type or, for quantized weights, to 16-bit integer blocks before the integer
    dot products (int8 blocks, an opt-in, err ~0.4% per activation). Cosine >= 0.999 at every
    position allows that while still failing any layout/indexing bug (those give
    cosine far below 0.99). The argmax must agree except where the reference's
    top two logits are within 1% of the row's largest |logit| (a near-tie that
    activation rounding may legitimately flip).
"""

import os

import numpy as np
import pytest

from conftest import NEAR_TIE_FRAC, run_generate, run_logits_tool
import gguf_bpe_tokenizer
import make_tiny_models
import reference_llama as ref

EXACT = sorted(n for n, g in make_tiny_models.GROUPS.items() if g == "exact")
APPROX = sorted(n for n, g in make_tiny_models.GROUPS.items() if g == "approx")
F32_REL_TOL = 1e-4
APPROX_COS_MIN = 0.999

SMOLLM2_CHAT_PROMPT = ("<|im_start|>user\nWhat is the capital of France? Answer in one "
                       "paragraph.<|im_end|>\n<|im_start|>assistant\n")
SMOLLM2_MAX_TOKENS = 64
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def english_text():
    with open(os.path.join(DATA, "english.txt")) as f:
        return f.read()


def argmax_agrees(cpp_row, ref_row):
    """True when cpp's argmax is the reference's, or within a reference near-tie."""
    best = np.max(ref_row)
    return ref_row[int(np.argmax(cpp_row))] >= best - NEAR_TIE_FRAC * np.max(np.abs(ref_row))


def check_greedy_path(model, prompt_ids, cpp_ids, max_tokens, stop_ids):
    """Checks that cpp_ids is a greedy continuation of prompt_ids under `model`.

    Each generated token must be the reference's argmax given the same prefix
    (or a near-tie of it), no token before the last may be a stop token, and an
    early stop must be at a stop token (included, or the reference's next argmax
    when the C++ leaves the stop token out). Returns the list of positions that
    were near-ties rather than exact argmax matches.
    """
    assert len(cpp_ids) <= max_tokens
    assert all(t not in stop_ids for t in cpp_ids[:-1]), (
        f"generation went past a stop token: {cpp_ids}")
    logits = ref.forward(model, list(prompt_ids) + list(cpp_ids))
    rows = logits[len(prompt_ids) - 1:]
    ties = []
    for i, tok in enumerate(cpp_ids):
        row = rows[i]
        if tok != int(np.argmax(row)):
            assert row[tok] >= row.max() - NEAR_TIE_FRAC * np.max(np.abs(row)), (
                f"generated token {i} is {tok} (ref logit {row[tok]:.4f}) but the reference's "
                f"greedy choice is {int(np.argmax(row))} (logit {row.max():.4f}); "
                f"cpp ids {cpp_ids}")
            ties.append(i)
    if len(cpp_ids) < max_tokens and (not cpp_ids or cpp_ids[-1] not in stop_ids):
        nxt = int(np.argmax(rows[len(cpp_ids)]))
        assert nxt in stop_ids, (
            f"generation stopped after {len(cpp_ids)} < {max_tokens} tokens but the reference "
            f"continues with {nxt} (not a stop token {sorted(stop_ids)})")
    return ties


def stop_ids_of(model_path, model):
    """EOS plus the usual end-of-turn control tokens present in a GGUF vocab."""
    stop = {int(model.config.eos_token_id)}
    if model_path.endswith(".gguf"):
        import gguf  # pylint: disable=import-outside-toplevel
        reader = gguf.GGUFReader(model_path)
        tokens = reader.fields["tokenizer.ggml.tokens"].contents()
        for name in ("<|endoftext|>", "<|im_end|>", "<|eot_id|>", "</s>"):
            if name in tokens:
                stop.add(tokens.index(name))
    return stop


# ---------------------------------------------------------------------------
# Tiny models: teacher-forced logits


@pytest.mark.parametrize("name", EXACT)
def test_tiny_f32_logits_match_reference(name, tiny_models, logits_tool, ref_cache, tmp_path):
    info = tiny_models["models"][name]
    tokens = tiny_models["tokens"]
    expected = ref.forward(ref_cache.model(info["path"]), tokens)
    actual = run_logits_tool(logits_tool, info["path"], tokens, tmp_path / "logits.bin",
                             tiny_models["vocab_size"])
    rel = ref.max_rel_error_per_position(actual, expected)
    worst = int(np.argmax(rel))
    assert rel.max() < F32_REL_TOL, (
        f"{name}: max relative error {rel.max():.3g} at position {worst} "
        f"(first bad positions: {np.nonzero(rel >= F32_REL_TOL)[0][:10].tolist()})")


@pytest.mark.parametrize("name", APPROX)
def test_tiny_lowp_logits_match_reference(name, tiny_models, logits_tool, ref_cache, tmp_path):
    info = tiny_models["models"][name]
    tokens = tiny_models["tokens"]
    expected = ref.forward(ref_cache.model(info["path"]), tokens)
    actual = run_logits_tool(logits_tool, info["path"], tokens, tmp_path / "logits.bin",
                             tiny_models["vocab_size"])
    cos = ref.cosine_per_position(actual, expected)
    assert cos.min() >= APPROX_COS_MIN, (
        f"{name}: min cosine {cos.min():.6f} at position {int(np.argmin(cos))}")
    bad = [t for t in range(len(tokens)) if not argmax_agrees(actual[t], expected[t])]
    assert not bad, f"{name}: argmax disagrees (beyond near-ties) at positions {bad[:10]}"


# ---------------------------------------------------------------------------
# Tiny models: greedy generation through infer-cli


@pytest.mark.parametrize("name", ["gguf_f32", "hf_f32", "gguf_qwen2"])
def test_tiny_generate_is_reference_greedy(name, tiny_models, cli_tool, ref_cache):
    info = tiny_models["models"][name]
    model = ref_cache.model(info["path"])
    max_tokens = 24
    out = run_generate(cli_tool, info["path"], "The old lighthouse stood at the edge",
                       max_tokens)
    prompt_ids = [int(t) for t in out["prompt_token_ids"]]
    assert prompt_ids, "prompt_token_ids is empty"
    assert out["prompt_tokens"] == len(prompt_ids)
    cpp_ids = [int(t) for t in out["token_ids"]]
    check_greedy_path(model, prompt_ids, cpp_ids, max_tokens, {int(model.config.eos_token_id)})


# ---------------------------------------------------------------------------
# SmolLM2-135M-Instruct Q4_1


@pytest.fixture(scope="session")
def smollm2(smollm2_path, ref_cache):
    return ref_cache.model(smollm2_path), gguf_bpe_tokenizer.load_from_gguf(smollm2_path)


# SmolLM2 tolerances, as the acceptance criteria set them: cosine >= 0.999 at every position and
# argmax agreement >= 99%. The C++ quantizes matmul activations to 16-bit blocks (8-bit blocks,
# as llama.cpp uses, measured min cosine 0.991 and 96.6% agreement here: the rounding error
# accumulates over 30 layers). A real bug (wrong RoPE layout, wrong block decoding, off-by-one
# position) gives cosines far below 0.9.
SMOLLM2_COS_MIN = 0.999
SMOLLM2_COS_MEAN = 0.9999
SMOLLM2_ARGMAX_RAW = 0.99


def test_smollm2_teacher_forced_logits(smollm2_path, smollm2, logits_tool, tmp_path):
    model, tok = smollm2
    tokens = gguf_bpe_tokenizer.encode(tok, english_text())
    assert 200 <= len(tokens) <= 300
    expected = ref.forward(model, tokens)
    actual = run_logits_tool(logits_tool, smollm2_path, tokens, tmp_path / "logits.bin",
                             model.config.vocab_size)
    cos = ref.cosine_per_position(actual, expected)
    assert cos.min() >= SMOLLM2_COS_MIN, (
        f"min cosine {cos.min():.6f} at position {int(np.argmin(cos))}")
    assert cos.mean() >= SMOLLM2_COS_MEAN, f"mean cosine {cos.mean():.6f}"
    agree = np.mean(actual.argmax(-1) == expected.argmax(-1))
    assert agree >= SMOLLM2_ARGMAX_RAW, (
        f"argmax agrees at only {agree:.1%} of {len(tokens)} positions")
    bad = [t for t in range(len(tokens)) if not argmax_agrees(actual[t], expected[t])]
    assert not bad, f"argmax disagrees beyond near-ties at positions {bad[:10]}"


def test_smollm2_prompt_tokens_match_reference_tokenizer(smollm2_path, smollm2, cli_tool):
    _, tok = smollm2
    out = run_generate(cli_tool, smollm2_path, SMOLLM2_CHAT_PROMPT, 1)
    assert [int(t) for t in out["prompt_token_ids"]] == gguf_bpe_tokenizer.encode(
        tok, SMOLLM2_CHAT_PROMPT)


def test_smollm2_chat_greedy_matches_reference(smollm2_path, smollm2, cli_tool):
    model, _ = smollm2
    out = run_generate(cli_tool, smollm2_path, SMOLLM2_CHAT_PROMPT, SMOLLM2_MAX_TOKENS)
    prompt_ids = [int(t) for t in out["prompt_token_ids"]]
    assert out["prompt_tokens"] == len(prompt_ids)
    cpp_ids = [int(t) for t in out["token_ids"]]
    stop = stop_ids_of(smollm2_path, model)
    expected = ref.greedy_generate(model, prompt_ids, SMOLLM2_MAX_TOKENS, stop)
    # The C++ may or may not report the stop token it ended on.
    allowed = [expected]
    if expected and expected[-1] in stop:
        allowed.append(expected[:-1])
    assert cpp_ids in allowed, f"cpp {cpp_ids}\nref {expected}"
    assert out["completion_tokens"] in (len(cpp_ids), len(cpp_ids) + 1)
    assert out["decode_tokens_per_second"] >= 0 and out["prefill_tokens_per_second"] >= 0


def test_smollm2_long_greedy_is_reference_greedy(smollm2_path, smollm2, cli_tool):
    """64 decode steps with no early stop: each token is the reference's argmax."""
    model, _ = smollm2
    prompt = english_text().split("\n")[0]
    out = run_generate(cli_tool, smollm2_path, prompt, SMOLLM2_MAX_TOKENS)
    prompt_ids = [int(t) for t in out["prompt_token_ids"]]
    cpp_ids = [int(t) for t in out["token_ids"]]
    ties = check_greedy_path(model, prompt_ids, cpp_ids, SMOLLM2_MAX_TOKENS,
                             stop_ids_of(smollm2_path, model))
    assert len(ties) <= 2, f"too many near-tie deviations from the reference: {ties}"
