#!/usr/bin/env python3
"""Generates tiny Llama-family test models with seeded random weights.

Writes into OUT_DIR:
  tokenizer.model            SentencePiece BPE (byte fallback) shared by every model
  gguf_f32.gguf              llama, GQA, untied output head, F32
  gguf_f32_tied.gguf         llama, output head tied to the token embedding
  gguf_f16.gguf / gguf_bf16.gguf / gguf_q8_0.gguf / gguf_q4_0.gguf / gguf_q4_1.gguf
                             the gguf_f32 weights stored in that type (norms stay F32)
  gguf_llama3.gguf           gguf_f32 weights + Llama-3 RoPE scaling as rope_freqs.weight
  gguf_qwen2.gguf            architecture qwen2: Q/K/V biases, halves RoPE layout
  hf_f32/ hf_f16/ hf_bf16/   HF folders (config.json, tokenizer.model,
                             tokenizer_config.json, model.safetensors) with the same
                             weights as gguf_f32 in HF layout
  hf_sharded/                hf_f32 split into 2 shards + model.safetensors.index.json
  hf_llama3/                 hf_f32 with rope_scaling {"rope_type": "llama3", ...}
  manifest.json              {"models": {name: {"path", "group", "tokens"}}, ...}

Layout: every model's weights are first drawn in HF convention (RoPE on halves,
x[i] with x[i + d/2]). GGUF llama files store Q/K with the rows of each head
permuted (new row 2i = old row i, new row 2i+1 = old row i + d/2), so RoPE on
adjacent pairs of the stored weights gives exactly the HF model: gguf_f32 and
hf_f32 are the same function. gguf_qwen2 keeps the halves layout (as llama.cpp
does for qwen2). A numpy weight [out, in] is written as shape (out, in); GGUF
reports it as ne = (in, out).

Usage: make_tiny_models.py OUT_DIR [--seed N]
"""

import argparse
import hashlib
import io
import json
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_llama  # noqa: E402  pylint: disable=wrong-import-position

class Dims:
    """A tiny model's shape."""

    def __init__(self, hidden, heads, kv_heads, head_dim, ffn, layers):
        self.hidden, self.heads, self.kv_heads = hidden, heads, kv_heads
        self.head_dim, self.ffn, self.layers = head_dim, ffn, layers


# Every model here; WIDE: rows that are whole 256-element superblocks, for the K-quants
# (llama.cpp's quantizer gives other widths a fallback type).
TINY = Dims(hidden=64, heads=4, kv_heads=2, head_dim=16, ffn=160, layers=2)
WIDE = Dims(hidden=256, heads=4, kv_heads=2, head_dim=64, ffn=512, layers=2)
CONTEXT = 128
EPS = 1e-5
THETA = 10000.0
VOCAB_TARGET = 400
# Llama-3 scaling parameters chosen so that the tiny head_dim exercises all three
# branches: wavelengths below 16 kept, above 64 divided by 8, in between blended.
LLAMA3_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                  "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
NUM_TEST_TOKENS = 100

# Which comparison group the tests use for each model (see test_forward.py).
GROUPS = {
    "gguf_f32": "exact", "gguf_f32_tied": "exact", "gguf_qwen2": "exact",
    "gguf_llama3": "exact", "hf_f32": "exact", "hf_sharded": "exact",
    "hf_llama3": "exact",
    "gguf_f16": "approx", "gguf_bf16": "approx", "gguf_q8_0": "approx",
    "gguf_q4_0": "approx", "gguf_q4_1": "approx", "gguf_q5_0": "approx",
    "gguf_q5_1": "approx", "hf_f16": "approx",
    "hf_bf16": "approx",
}


# --------------------------------------------------------------------------
# Tokenizer


def corpus_lines():
    with open(os.path.join(HERE, "data", "english.txt")) as f:
        text = f.read()
    lines = [s.strip() + "." for s in text.replace("\n", " ").split(".") if s.strip()]
    rng = np.random.default_rng(7)
    words = sorted(set(text.lower().replace(",", "").replace(".", "").split()))
    for _ in range(400):  # Extra varied sentences from the same words + digits.
        n = int(rng.integers(4, 12))
        lines.append(" ".join(rng.choice(words, n)) + f" {int(rng.integers(0, 1000))}.")
    return lines


def train_tokenizer(out_path):
    import sentencepiece as spm  # pylint: disable=import-outside-toplevel

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus_lines()), model_writer=model,
        model_type="bpe", vocab_size=VOCAB_TARGET, byte_fallback=True,
        character_coverage=1.0, split_digits=True, num_threads=1,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
    with open(out_path, "wb") as f:
        f.write(model.getvalue())
    return spm.SentencePieceProcessor(model_file=out_path)


def vocab_arrays(sp):
    """GGUF tokenizer arrays: tokens, scores, token types."""
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(float(sp.get_score(i)))
        if sp.is_unknown(i):
            types.append(2)
        elif sp.is_control(i):
            types.append(3)
        elif sp.is_byte(i):
            types.append(6)
        elif sp.is_unused(i):
            types.append(5)
        else:
            types.append(1)
    return tokens, scores, types


# --------------------------------------------------------------------------
# Weights (HF naming and layout)


def random_weights(rng, vocab, tied=False, bias=False, dims=TINY):
    def mat(out_dim, in_dim):
        return (rng.standard_normal((out_dim, in_dim)) / np.sqrt(in_dim)).astype(np.float32)

    def norm(n):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    d = dims
    w = {"model.embed_tokens.weight": rng.standard_normal((vocab, d.hidden)).astype(np.float32)}
    for i in range(d.layers):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(d.hidden)
        w[p + "self_attn.q_proj.weight"] = mat(d.heads * d.head_dim, d.hidden)
        w[p + "self_attn.k_proj.weight"] = mat(d.kv_heads * d.head_dim, d.hidden)
        w[p + "self_attn.v_proj.weight"] = mat(d.kv_heads * d.head_dim, d.hidden)
        w[p + "self_attn.o_proj.weight"] = mat(d.hidden, d.heads * d.head_dim)
        if bias:
            for n, h in (("q", d.heads), ("k", d.kv_heads), ("v", d.kv_heads)):
                w[p + f"self_attn.{n}_proj.bias"] = (
                    0.5 * rng.standard_normal(h * d.head_dim)).astype(np.float32)
        w[p + "post_attention_layernorm.weight"] = norm(d.hidden)
        w[p + "mlp.gate_proj.weight"] = mat(d.ffn, d.hidden)
        w[p + "mlp.up_proj.weight"] = mat(d.ffn, d.hidden)
        w[p + "mlp.down_proj.weight"] = mat(d.hidden, d.ffn)
    w["model.norm.weight"] = norm(d.hidden)
    if not tied:
        w["lm_head.weight"] = (2.0 * mat(vocab, d.hidden))
    return w


def permute_for_pairs(w, n_heads):
    """HF halves layout -> adjacent-pair layout (rows within each head)."""
    rows, cols = w.shape
    hd = rows // n_heads
    return np.ascontiguousarray(
        w.reshape(n_heads, 2, hd // 2, cols).swapaxes(1, 2).reshape(rows, cols))


HF_TO_GGUF = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
}


def to_gguf_names(w, pair_rope, dims=TINY):
    out = {}
    for name, arr in w.items():
        if name == "model.embed_tokens.weight":
            out["token_embd.weight"] = arr
        elif name == "model.norm.weight":
            out["output_norm.weight"] = arr
        elif name == "lm_head.weight":
            out["output.weight"] = arr
        else:
            parts = name.split(".")
            layer, rest = parts[2], ".".join(parts[3:])
            if pair_rope and rest == "self_attn.q_proj.weight":
                arr = permute_for_pairs(arr, dims.heads)
            elif pair_rope and rest == "self_attn.k_proj.weight":
                arr = permute_for_pairs(arr, dims.kv_heads)
            out[f"blk.{layer}.{HF_TO_GGUF[rest]}"] = arr
    return out


# --------------------------------------------------------------------------
# Writers


def write_gguf(path, arch, tensors, sp, qtype_name="F32", rope_freqs=None, dims=TINY,
               extra_kv=None, rope_dim=None, name=None):
    import gguf  # pylint: disable=import-outside-toplevel

    qtype = gguf.GGMLQuantizationType[qtype_name]
    writer = gguf.GGUFWriter(path, arch)
    writer.add_name(name or os.path.splitext(os.path.basename(path))[0])
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(dims.hidden)
    writer.add_feed_forward_length(dims.ffn)
    writer.add_block_count(dims.layers)
    writer.add_head_count(dims.heads)
    writer.add_head_count_kv(dims.kv_heads)
    writer.add_layer_norm_rms_eps(EPS)
    writer.add_rope_freq_base(THETA)
    writer.add_rope_dimension_count(rope_dim or dims.head_dim)
    writer.add_key_length(dims.head_dim)
    writer.add_value_length(dims.head_dim)
    if extra_kv is not None:
        extra_kv(writer)
    writer.add_vocab_size(sp.get_piece_size())
    if qtype_name != "F32":
        writer.add_file_type({"F16": 1, "BF16": 32, "Q8_0": 7, "Q4_0": 2,
                              "Q4_1": 3, "Q5_0": 8, "Q5_1": 9}[qtype_name])
    tokens, scores, types = vocab_arrays(sp)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(sp.bos_id())
    writer.add_eos_token_id(sp.eos_id())
    writer.add_unk_token_id(sp.unk_id())
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    items = list(tensors.items())
    if rope_freqs is not None:
        items.append(("rope_freqs.weight", np.asarray(rope_freqs, dtype=np.float32)))
    for name, arr in items:
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        if arr.ndim == 1 or qtype_name == "F32":
            writer.add_tensor(name, arr)
        elif qtype_name == "F16":
            writer.add_tensor(name, arr.astype(np.float16))
        else:
            data = gguf.quants.quantize(arr, qtype)
            writer.add_tensor(name, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def f32_to_bf16_bits(a):
    """Round-to-nearest-even float32 -> bfloat16 bit patterns (uint16)."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def write_safetensors(path, tensors, dtype):
    """Writes a safetensors file by hand (numpy cannot express bfloat16)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name], dtype=np.float32)
        if dtype == "F32":
            raw = arr.astype("<f4").tobytes()
        elif dtype == "F16":
            raw = arr.astype("<f2").tobytes()
        elif dtype == "BF16":
            raw = f32_to_bf16_bits(arr).astype("<u2").tobytes()
        else:
            raise ValueError(dtype)
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(head).to_bytes(8, "little"))
        f.write(head)
        for raw in blobs:
            f.write(raw)


def write_hf(folder, weights, sp_path, sp, dtype="F32", shards=1, rope_scaling=None, dims=TINY,
             model_type="llama"):
    os.makedirs(folder, exist_ok=True)
    torch_dtype = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": model_type,
        "vocab_size": sp.get_piece_size(), "hidden_size": dims.hidden,
        "intermediate_size": dims.ffn, "num_hidden_layers": dims.layers,
        "num_attention_heads": dims.heads, "num_key_value_heads": dims.kv_heads,
        "head_dim": dims.head_dim, "max_position_embeddings": CONTEXT,
        "rms_norm_eps": EPS, "rope_theta": THETA, "hidden_act": "silu",
        "tie_word_embeddings": "lm_head.weight" not in weights,
        "bos_token_id": sp.bos_id(), "eos_token_id": sp.eos_id(),
        "torch_dtype": torch_dtype, "attention_bias": False,
        "rope_scaling": rope_scaling,
    }
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    tok_config = {
        "tokenizer_class": "LlamaTokenizer", "add_bos_token": True,
        "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
        "unk_token": "<unk>", "model_max_length": CONTEXT, "legacy": False,
    }
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(tok_config, f, indent=2)
    shutil.copyfile(sp_path, os.path.join(folder, "tokenizer.model"))
    if shards == 1:
        write_safetensors(os.path.join(folder, "model.safetensors"), weights, dtype)
        return
    names = sorted(weights)
    weight_map, total = {}, 0
    for s in range(shards):
        part = names[s::shards]
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(os.path.join(folder, fname), {n: weights[n] for n in part}, dtype)
        for n in part:
            weight_map[n] = fname
            total += weights[n].size * 4
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


# --------------------------------------------------------------------------


def generator_digest(seed=1234):
    """Identifies the generator (its source and the text it reads) and the seed."""
    h = hashlib.sha256(str(seed).encode())
    for path in (os.path.abspath(__file__), os.path.join(HERE, "data", "english.txt")):
        with open(path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def make_all(out_dir, seed=1234):
    """Writes every tiny model into out_dir; returns the manifest dict."""
    os.makedirs(out_dir, exist_ok=True)
    sp_path = os.path.join(out_dir, "tokenizer.model")
    sp = train_tokenizer(sp_path)
    vocab = sp.get_piece_size()
    rng = np.random.default_rng(seed)
    base = random_weights(rng, vocab)
    tied = random_weights(rng, vocab, tied=True)
    qwen = random_weights(rng, vocab, bias=True)

    p = lambda name: os.path.join(out_dir, name)  # noqa: E731
    write_gguf(p("gguf_f32.gguf"), "llama", to_gguf_names(base, True), sp)
    write_gguf(p("gguf_f32_tied.gguf"), "llama", to_gguf_names(tied, True), sp)
    for q in ("F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"):
        write_gguf(p(f"gguf_{q.lower()}.gguf"), "llama", to_gguf_names(base, True), sp, q)
    sc = LLAMA3_SCALING
    divisors = reference_llama.llama3_freq_divisors(
        TINY.head_dim, TINY.head_dim, THETA, sc["factor"], sc["low_freq_factor"],
        sc["high_freq_factor"], sc["original_max_position_embeddings"])
    write_gguf(p("gguf_llama3.gguf"), "llama", to_gguf_names(base, True), sp,
               rope_freqs=divisors)
    write_gguf(p("gguf_qwen2.gguf"), "qwen2", to_gguf_names(qwen, False), sp)
    write_hf(p("hf_f32"), base, sp_path, sp)
    write_hf(p("hf_f16"), base, sp_path, sp, dtype="F16")
    write_hf(p("hf_bf16"), base, sp_path, sp, dtype="BF16")
    write_hf(p("hf_sharded"), base, sp_path, sp, shards=2)
    write_hf(p("hf_llama3"), base, sp_path, sp, rope_scaling=dict(LLAMA3_SCALING))

    tokens = reference_tokens(sp)
    manifest = {"generator": generator_digest(seed), "vocab_size": vocab,
                "tokens": tokens, "models": {}}
    for name, group in GROUPS.items():
        path = p(name) if name.startswith("hf_") else p(name + ".gguf")
        manifest["models"][name] = {"path": path, "group": group}
    with open(p("manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    return manifest


def ensure_all(out_dir, seed=1234):
    """The manifest of the tiny models in out_dir: a previous run's, if the same generator (and
    seed) made them and every file is there, else make_all's."""
    manifest_path = os.path.join(out_dir, "manifest.json")
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if manifest.get("generator") == generator_digest(seed) and all(
                os.path.exists(m["path"]) for m in manifest["models"].values()):
            return manifest
    return make_all(out_dir, seed)


def reference_tokens(sp):
    """The tokens the logits tests feed every model: BOS and the start of english.txt."""
    with open(os.path.join(HERE, "data", "english.txt")) as f:
        return ([sp.bos_id()] + sp.encode(f.read()))[:NUM_TEST_TOKENS]


def make_wide(out_dir, seed=4321):
    """Writes a llama with WIDE dims in F32, the source of the K-quant test files.

    Returns {"path", "tokens", "vocab_size"}.
    """
    return make_family(out_dir, "llama", seed)


# The families beyond Llama that libinfer runs, as tiny WIDE models (F32) for the llama.cpp
# comparisons of test_llama_cpp.py.
FAMILIES = ("qwen3", "gemma2", "gemma3", "phi3")


def make_family(out_dir, arch, seed=777):
    """Writes family_<arch>.gguf with WIDE dims in F32 (arch: llama or one of FAMILIES; for qwen3
    also the same model as an HF folder, family_qwen3_hf); returns {"path", "tokens",
    "vocab_size"[, "hf_path"]}."""
    os.makedirs(out_dir, exist_ok=True)
    sp_path = os.path.join(out_dir, "tokenizer.model")
    sp = train_tokenizer(sp_path)
    rng = np.random.default_rng(seed)
    d = WIDE
    gemma = arch.startswith("gemma")
    weights = random_weights(rng, sp.get_piece_size(), tied=gemma, dims=d)

    def norm(n, spread=0.3):
        return (1.0 + spread * rng.standard_normal(n)).astype(np.float32)

    if arch in ("qwen3", "gemma3"):
        for i in range(d.layers):
            for n in ("q", "k"):
                weights[f"model.layers.{i}.self_attn.{n}_norm.weight"] = norm(d.head_dim)
    # llama.cpp permutes only Llama's Q/K rows for RoPE on pairs; the other families rotate halves.
    tensors = to_gguf_names(weights, arch == "llama", d)
    extra_kv = None
    rope_dim = None
    if arch == "qwen3":
        # The same model as a Hugging Face folder, for the checkpoint reader's Qwen3 names.
        write_hf(os.path.join(out_dir, "family_qwen3_hf"), weights, sp_path, sp, dims=d,
                 model_type="qwen3")
    if gemma:
        # Post-block norms (stored with Gemma's +1 folded in, as the converter writes them), a
        # window short enough for the test's 100 tokens, and caps low enough to bend the
        # tiny model's scores and logits.
        for i in range(d.layers):
            tensors[f"blk.{i}.post_attention_norm.weight"] = norm(d.hidden)
            tensors[f"blk.{i}.post_ffw_norm.weight"] = norm(d.hidden)

        def extra_kv(writer):
            writer.add_sliding_window(8)
            if arch == "gemma2":
                writer.add_attn_logit_softcapping(1.5)
                writer.add_final_logit_softcapping(3.0)
            else:
                writer.add_sliding_window_pattern(2)  # layer 0 slides, layer 1 is global
                writer.add_rope_freq_base_swa(100.0)
    elif arch == "phi3":
        # Fused projections (Q, K, V rows in one tensor; the gate's rows, then up's), RoPE over
        # three quarters of each head, and LongRoPE: per-frequency factors with an original
        # context of 32 (so the long ones apply) and an attention factor.
        for i in range(d.layers):
            b = f"blk.{i}."
            tensors[b + "attn_qkv.weight"] = np.concatenate(
                [tensors.pop(b + "attn_q.weight"), tensors.pop(b + "attn_k.weight"),
                 tensors.pop(b + "attn_v.weight")])
            tensors[b + "ffn_up.weight"] = np.concatenate(
                [tensors.pop(b + "ffn_gate.weight"), tensors[b + "ffn_up.weight"]])
        rope_dim = d.head_dim * 3 // 4
        tensors["rope_factors_long.weight"] = rng.uniform(1.0, 4.0, rope_dim // 2).astype(
            np.float32)
        tensors["rope_factors_short.weight"] = rng.uniform(1.0, 1.5, rope_dim // 2).astype(
            np.float32)

        def extra_kv(writer):
            writer.add_rope_scaling_orig_ctx_len(32)
            writer.add_rope_scaling_attn_factors(1.19)
    elif arch not in ("llama", "qwen3"):
        raise ValueError(f"no tiny model for family {arch}")
    path = os.path.join(out_dir, f"family_{arch}.gguf")
    # A neutral general.name: llama.cpp gives files named like a Phi-3 that model's special
    # tokens, which the tiny vocabulary lacks.
    write_gguf(path, arch, tensors, sp, dims=d, extra_kv=extra_kv, rope_dim=rope_dim,
               name="tiny family model")
    made = {"path": path, "tokens": reference_tokens(sp), "vocab_size": sp.get_piece_size()}
    if arch == "qwen3":
        made["hf_path"] = os.path.join(out_dir, "family_qwen3_hf")
    return made


def main(argv):
    parser = argparse.ArgumentParser(description="Generate tiny test models.")
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--reuse", action="store_true",
                        help="keep the models already in out_dir if this generator made them")
    args = parser.parse_args(argv)
    make = ensure_all if args.reuse else make_all
    manifest = make(args.out_dir, args.seed)
    print(f"wrote {len(manifest['models'])} models (vocab {manifest['vocab_size']}) "
          f"to {args.out_dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
