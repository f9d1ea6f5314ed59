"""Checks of the NumPy reference itself (need no C++ tool).

The reference is the oracle for the C++ forward pass, so it is cross-checked
here by properties that hold independently of its code paths: two storage
layouts of the same model must agree, RoPE must be a rotation that depends
only on relative position, the KV-cache path must equal the full forward, and
on the real SmolLM2 weights it must produce sensible English.
"""

import os

import numpy as np
import pytest

import gguf_bpe_tokenizer
import make_tiny_models
import reference_llama as ref

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def _logits(tiny_models, ref_cache, name, tokens=None):
    path = tiny_models["models"][name]["path"]
    return ref.forward(ref_cache.model(path), tokens or tiny_models["tokens"])


@pytest.mark.parametrize("gguf_name,hf_name", [
    ("gguf_f32", "hf_f32"), ("gguf_f32", "hf_sharded"), ("gguf_llama3", "hf_llama3")])
def test_pair_rope_on_permuted_weights_equals_halves_rope(
        gguf_name, hf_name, tiny_models, ref_cache):
    a = _logits(tiny_models, ref_cache, gguf_name)
    b = _logits(tiny_models, ref_cache, hf_name)
    # llama3 stores its rope_freqs divisors as float32 in GGUF, hence 1e-6 not 1e-12.
    assert ref.max_rel_error_per_position(a, b).max() < 1e-6


def test_llama3_scaling_changes_the_model(tiny_models, ref_cache):
    a = _logits(tiny_models, ref_cache, "hf_f32")
    b = _logits(tiny_models, ref_cache, "hf_llama3")
    assert ref.max_rel_error_per_position(a, b).max() > 1e-2
    # Position 0 is not rotated at all, so the first row must be identical.
    np.testing.assert_allclose(a[0], b[0], rtol=1e-12)


@pytest.mark.parametrize("name", ["gguf_f16", "gguf_bf16", "gguf_q8_0", "gguf_q4_0",
                                  "gguf_q4_1", "hf_f16", "hf_bf16"])
def test_low_precision_copies_are_close_to_f32(name, tiny_models, ref_cache):
    a = _logits(tiny_models, ref_cache, name)
    b = _logits(tiny_models, ref_cache, "hf_f32")
    cos = ref.cosine_per_position(a, b)
    floor = 0.9 if "q4" in name else 0.999
    assert cos.min() > floor
    assert ref.max_rel_error_per_position(a, b).max() > 0  # really a different file


def test_tied_model_reuses_embedding(tiny_models, ref_cache):
    model = ref_cache.model(tiny_models["models"]["gguf_f32_tied"]["path"])
    assert model.config.tie_word_embeddings
    assert model.lm_head is model.embed


def test_qwen2_has_biases_and_halves_rope(tiny_models, ref_cache):
    model = ref_cache.model(tiny_models["models"]["gguf_qwen2"]["path"])
    assert not model.config.rope_interleaved
    assert model.layers[0].bq is not None and model.layers[0].bq.shape == (64,)


def _rope_cfg(interleaved, divisors=None):
    return ref.Config(vocab_size=1, hidden_size=16, intermediate_size=1, num_layers=1,
                      num_heads=1, num_kv_heads=1, head_dim=16, rope_theta=500.0,
                      rope_dim=16, rope_interleaved=interleaved,
                      rope_freq_divisors=divisors)


@pytest.mark.parametrize("interleaved", [True, False])
def test_rope_is_relative_rotation(interleaved):
    rng = np.random.default_rng(0)
    cfg = _rope_cfg(interleaved, divisors=np.linspace(1, 4, 8))
    q = rng.standard_normal((1, 1, 16))
    k = rng.standard_normal((1, 1, 16))
    rq = lambda p: ref.rope(q, [p], cfg)  # noqa: E731
    rk = lambda p: ref.rope(k, [p], cfg)  # noqa: E731
    # Norm preserved; position 0 untouched; score depends only on p_q - p_k.
    np.testing.assert_allclose(np.linalg.norm(rq(7)), np.linalg.norm(q), rtol=1e-12)
    np.testing.assert_allclose(rq(0), q, rtol=0, atol=0)
    s1 = np.sum(rq(9) * rk(4))
    s2 = np.sum(rq(15) * rk(10))
    np.testing.assert_allclose(s1, s2, rtol=1e-10)


def test_rope_first_pair_hand_computed():
    # Pair 0 has frequency theta^0 = 1: at position 2 it rotates by 2 radians.
    x = np.zeros((1, 1, 16))
    x[0, 0, 0] = 1.0
    for interleaved, partner in ((True, 1), (False, 8)):
        y = ref.rope(x, [2], _rope_cfg(interleaved))
        np.testing.assert_allclose(y[0, 0, 0], np.cos(2.0), rtol=1e-12)
        np.testing.assert_allclose(y[0, 0, partner], np.sin(2.0), rtol=1e-12)


def test_llama3_divisors_branches():
    d = ref.llama3_freq_divisors(16, 16, 10000.0, 8.0, 1.0, 4.0, 64)
    assert d[0] == 1.0  # wavelength 2*pi < 16: kept
    assert np.all(d[3:] == 8.0)  # wavelength > 64: divided by the factor
    assert np.all((d[1:3] > 1.0) & (d[1:3] < 8.0))  # blended


def test_rms_norm_hand_computed():
    y = ref.rms_norm(np.array([[3.0, 4.0]]), np.array([1.0, 2.0]), 0.0)
    r = np.sqrt(12.5)
    np.testing.assert_allclose(y, [[3.0 / r, 8.0 / r]], rtol=1e-12)


def test_kv_cache_matches_full_forward(tiny_models, ref_cache):
    model = ref_cache.model(tiny_models["models"]["gguf_qwen2"]["path"])
    tokens = tiny_models["tokens"][:20]
    full = ref.forward(model, tokens)
    cache = ref.KVCache(model.config.num_layers)
    parts = [ref.forward(model, tokens[:7], cache)]
    for t in tokens[7:]:
        parts.append(ref.forward(model, [t], cache))
    np.testing.assert_allclose(np.concatenate(parts), full, rtol=1e-10, atol=1e-10)


def test_causality(tiny_models, ref_cache):
    tokens = tiny_models["tokens"][:30]
    a = _logits(tiny_models, ref_cache, "gguf_f32", tokens)
    b = _logits(tiny_models, ref_cache, "gguf_f32", tokens[:20] + [5] * 10)
    np.testing.assert_allclose(a[:20], b[:20], rtol=1e-12)
    assert not np.allclose(a[20:], b[20:])


def test_manifest_lists_every_group(tiny_models):
    assert set(tiny_models["models"]) == set(make_tiny_models.GROUPS)
    assert 300 <= tiny_models["vocab_size"] <= 500
    assert max(tiny_models["tokens"]) < tiny_models["vocab_size"]


def test_smollm2_reference_is_sensible(smollm2_path, ref_cache):
    model = ref_cache.model(smollm2_path)
    tok = gguf_bpe_tokenizer.load_from_gguf(smollm2_path)
    with open(os.path.join(DATA, "english.txt")) as f:
        text = f.read()
    ids = gguf_bpe_tokenizer.encode(tok, text)
    assert gguf_bpe_tokenizer.decode(tok, ids) == text
    logits = ref.forward(model, ids)
    top5 = np.argsort(-logits[:-1], axis=-1)[:, :5]
    hit5 = np.mean([ids[i + 1] in top5[i] for i in range(len(ids) - 1)])
    # A random predictor would hit ~1e-4 of the time; a 135M model gets about 60%.
    assert hit5 > 0.5, f"next token in top-5 at only {hit5:.1%} of positions"
    prompt = ("<|im_start|>user\nWhat is the capital of France? Answer in one "
              "paragraph.<|im_end|>\n<|im_start|>assistant\n")
    out = ref.greedy_generate(model, gguf_bpe_tokenizer.encode(tok, prompt), 64, [2])
    assert "Paris" in gguf_bpe_tokenizer.decode(tok, out)
