"""An independent NumPy float64 reference of the Llama-family forward pass.

Written from the published math of the architecture, used as the oracle for
libinfer's C++ forward pass:

  h_0 = E[tokens]                                     (token embedding)
  per layer:
    a = RMSNorm(h) * w_attn_norm,  RMSNorm(x) = x / sqrt(mean(x^2) + eps)
    q = a Wq^T (+bq), k = a Wk^T (+bk), v = a Wv^T (+bv)  split into heads
    q, k = RoPE(q, pos), RoPE(k, pos)
    o = softmax(q k^T / sqrt(head_dim) + causal mask) v  (GQA: kv head = head // group)
    h = h + o Wo^T
    m = RMSNorm(h) * w_ffn_norm
    h = h + Wdown (silu(Wgate m) * Wup m)
  logits = RMSNorm(h) * w_norm  W_out^T   (W_out = E when tied)

RoPE rotates a pair (x_a, x_b) of each head by angle pos * f_i with
f_i = theta^(-2i / rope_dim) / s_i, i in [0, rope_dim/2). The pair is
(x[2i], x[2i+1]) for the "interleaved"/adjacent layout (GGUF llama files, whose
Q/K rows were permuted by the converter) and (x[i], x[i + rope_dim/2]) for the
halves layout (HF checkpoints, GGUF qwen2). s_i is 1 without scaling, the linear
factor for linear scaling, and the Llama-3 per-frequency factor (from config or
from a GGUF `rope_freqs.weight` tensor) for llama3 scaling.

Weights load from a GGUF file (gguf.GGUFReader; quantized tensors go through
gguf.quants.dequantize) or an HF folder of safetensors (single or sharded).
"""

import dataclasses
import json
import math
import os
from typing import Dict, List, Optional

import numpy as np


@dataclasses.dataclass
class Config:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    rope_dim: int = 0  # 0 = head_dim
    rope_interleaved: bool = True  # True: adjacent pairs; False: halves
    # Divisors s_i of each rotation frequency, length rope_dim/2, or None.
    rope_freq_divisors: Optional[np.ndarray] = None
    tie_word_embeddings: bool = False
    bos_token_id: Optional[int] = None
    eos_token_id: Optional[int] = None


def llama3_freq_divisors(head_dim, rope_dim, theta, factor, low_freq_factor,
                         high_freq_factor, original_context):
    """Per-frequency divisors of Llama 3.1 RoPE scaling.

    Wavelengths shorter than original_context / high_freq_factor keep their
    frequency; longer than original_context / low_freq_factor are divided by
    `factor`; in between the inverse frequency is blended linearly in
    `smooth = (original_context / wavelen - low) / (high - low)`.
    """
    del head_dim
    half = rope_dim // 2
    divisors = np.ones(half, dtype=np.float64)
    low_wavelen = original_context / low_freq_factor
    high_wavelen = original_context / high_freq_factor
    for i in range(half):
        freq = theta ** (-2.0 * i / rope_dim)
        wavelen = 2.0 * math.pi / freq
        if wavelen < high_wavelen:
            divisors[i] = 1.0
        elif wavelen > low_wavelen:
            divisors[i] = factor
        else:
            smooth = (original_context / wavelen - low_freq_factor) / (
                high_freq_factor - low_freq_factor)
            new_freq = (1.0 - smooth) * freq / factor + smooth * freq
            divisors[i] = freq / new_freq
    return divisors


@dataclasses.dataclass
class Layer:
    attn_norm: np.ndarray
    wq: np.ndarray  # [num_heads * head_dim, hidden]
    wk: np.ndarray  # [num_kv_heads * head_dim, hidden]
    wv: np.ndarray
    wo: np.ndarray  # [hidden, num_heads * head_dim]
    ffn_norm: np.ndarray
    w_gate: np.ndarray  # [ffn, hidden]
    w_up: np.ndarray
    w_down: np.ndarray  # [hidden, ffn]
    bq: Optional[np.ndarray] = None
    bk: Optional[np.ndarray] = None
    bv: Optional[np.ndarray] = None


@dataclasses.dataclass
class Model:
    config: Config
    embed: np.ndarray  # [vocab, hidden]
    norm: np.ndarray
    lm_head: np.ndarray  # [vocab, hidden] (== embed when tied)
    layers: List[Layer]


# --------------------------------------------------------------------------
# Loading


def _f64(a):
    return np.ascontiguousarray(np.asarray(a, dtype=np.float64))


def _gguf_field(reader, key, default=None):
    field = reader.fields.get(key)
    if field is None:
        return default
    return field.contents()


def load_gguf(path) -> Model:
    """Loads a Llama/Qwen2 GGUF file; every tensor dequantized to float64."""
    import gguf  # pylint: disable=import-outside-toplevel

    reader = gguf.GGUFReader(path)
    arch = _gguf_field(reader, "general.architecture")
    if arch not in ("llama", "qwen2", "mistral"):
        raise ValueError(f"unsupported architecture {arch!r}")

    def kv(name, default=None):
        return _gguf_field(reader, f"{arch}.{name}", default)

    tensors = {}
    for t in reader.tensors:
        arr = gguf.quants.dequantize(t.data, t.tensor_type)
        # GGUF lists dims innermost first; numpy wants them outermost first.
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        tensors[t.name] = _f64(arr).reshape(shape)

    hidden = int(kv("embedding_length"))
    heads = int(kv("attention.head_count"))
    head_dim = int(kv("attention.key_length", hidden // heads))
    rope_dim = int(kv("rope.dimension_count", head_dim))
    theta = float(kv("rope.freq_base", 10000.0))
    divisors = None
    if "rope_freqs.weight" in tensors:
        divisors = tensors["rope_freqs.weight"].reshape(-1)
    elif kv("rope.scaling.type") == "linear":
        divisors = np.full(rope_dim // 2, float(kv("rope.scaling.factor")))
    tied = "output.weight" not in tensors
    embed = tensors["token_embd.weight"]
    cfg = Config(
        vocab_size=embed.shape[0],
        hidden_size=hidden,
        intermediate_size=int(kv("feed_forward_length")),
        num_layers=int(kv("block_count")),
        num_heads=heads,
        num_kv_heads=int(kv("attention.head_count_kv", heads)),
        head_dim=head_dim,
        rms_norm_eps=float(kv("attention.layer_norm_rms_epsilon", 1e-5)),
        rope_theta=theta,
        rope_dim=rope_dim,
        # llama.cpp's convention: llama GGUFs rotate adjacent pairs, qwen2 halves.
        rope_interleaved=(arch != "qwen2"),
        rope_freq_divisors=divisors,
        tie_word_embeddings=tied,
        bos_token_id=_gguf_field(reader, "tokenizer.ggml.bos_token_id"),
        eos_token_id=_gguf_field(reader, "tokenizer.ggml.eos_token_id"),
    )
    layers = []
    for i in range(cfg.num_layers):
        p = f"blk.{i}."
        layers.append(Layer(
            attn_norm=tensors[p + "attn_norm.weight"],
            wq=tensors[p + "attn_q.weight"],
            wk=tensors[p + "attn_k.weight"],
            wv=tensors[p + "attn_v.weight"],
            wo=tensors[p + "attn_output.weight"],
            ffn_norm=tensors[p + "ffn_norm.weight"],
            w_gate=tensors[p + "ffn_gate.weight"],
            w_up=tensors[p + "ffn_up.weight"],
            w_down=tensors[p + "ffn_down.weight"],
            bq=tensors.get(p + "attn_q.bias"),
            bk=tensors.get(p + "attn_k.bias"),
            bv=tensors.get(p + "attn_v.bias"),
        ))
    return Model(cfg, embed, tensors["output_norm.weight"],
                 embed if tied else tensors["output.weight"], layers)


def _load_safetensors_folder(folder) -> Dict[str, np.ndarray]:
    from safetensors.numpy import load_file  # pylint: disable=import-outside-toplevel

    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    out = {}
    for name in files:
        path = os.path.join(folder, name)
        try:
            data = load_file(path)
        except (TypeError, ValueError):
            data = _load_safetensors_bf16(path)
        out.update(data)
    return {k: _f64(v) for k, v in out.items()}


def _load_safetensors_bf16(path):
    """Reads a safetensors file by hand (numpy has no bfloat16)."""
    with open(path, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_len))
        body = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        begin, end = meta["data_offsets"]
        raw = body[begin:end]
        dtype = meta["dtype"]
        if dtype == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif dtype == "F16":
            arr = np.frombuffer(raw, dtype="<f2")
        elif dtype == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        else:
            raise ValueError(f"unsupported safetensors dtype {dtype}")
        out[name] = arr.reshape(meta["shape"])
    return out


def load_hf(folder) -> Model:
    """Loads an HF Llama/Qwen2 folder (config.json + safetensors)."""
    with open(os.path.join(folder, "config.json")) as f:
        c = json.load(f)
    t = _load_safetensors_folder(folder)
    hidden = c["hidden_size"]
    heads = c["num_attention_heads"]
    head_dim = c.get("head_dim") or hidden // heads
    theta = float(c.get("rope_theta", 10000.0))
    divisors = None
    scaling = c.get("rope_scaling")
    if scaling:
        kind = scaling.get("rope_type", scaling.get("type"))
        if kind == "linear":
            divisors = np.full(head_dim // 2, float(scaling["factor"]))
        elif kind == "llama3":
            divisors = llama3_freq_divisors(
                head_dim, head_dim, theta, float(scaling["factor"]),
                float(scaling["low_freq_factor"]), float(scaling["high_freq_factor"]),
                float(scaling["original_max_position_embeddings"]))
        else:
            raise ValueError(f"unsupported rope_scaling {scaling}")
    tied = bool(c.get("tie_word_embeddings", False)) or "lm_head.weight" not in t
    embed = t["model.embed_tokens.weight"]
    cfg = Config(
        vocab_size=c["vocab_size"],
        hidden_size=hidden,
        intermediate_size=c["intermediate_size"],
        num_layers=c["num_hidden_layers"],
        num_heads=heads,
        num_kv_heads=c.get("num_key_value_heads", heads),
        head_dim=head_dim,
        rms_norm_eps=float(c.get("rms_norm_eps", 1e-6)),
        rope_theta=theta,
        rope_dim=head_dim,
        rope_interleaved=False,  # HF rotates halves
        rope_freq_divisors=divisors,
        tie_word_embeddings=tied,
        bos_token_id=c.get("bos_token_id"),
        eos_token_id=c.get("eos_token_id"),
    )
    layers = []
    for i in range(cfg.num_layers):
        p = f"model.layers.{i}."
        layers.append(Layer(
            attn_norm=t[p + "input_layernorm.weight"],
            wq=t[p + "self_attn.q_proj.weight"],
            wk=t[p + "self_attn.k_proj.weight"],
            wv=t[p + "self_attn.v_proj.weight"],
            wo=t[p + "self_attn.o_proj.weight"],
            ffn_norm=t[p + "post_attention_layernorm.weight"],
            w_gate=t[p + "mlp.gate_proj.weight"],
            w_up=t[p + "mlp.up_proj.weight"],
            w_down=t[p + "mlp.down_proj.weight"],
            bq=t.get(p + "self_attn.q_proj.bias"),
            bk=t.get(p + "self_attn.k_proj.bias"),
            bv=t.get(p + "self_attn.v_proj.bias"),
        ))
    return Model(cfg, embed, t["model.norm.weight"],
                 embed if tied else t["lm_head.weight"], layers)


def load(path) -> Model:
    """Loads a .gguf file or an HF folder."""
    if os.path.isdir(path):
        return load_hf(path)
    return load_gguf(path)


# --------------------------------------------------------------------------
# Forward pass


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope(x, positions, cfg: Config):
    """Rotates x [T, heads, head_dim] by the angle of each position."""
    rope_dim = cfg.rope_dim or cfg.head_dim
    half = rope_dim // 2
    inv_freq = cfg.rope_theta ** (-2.0 * np.arange(half, dtype=np.float64) / rope_dim)
    if cfg.rope_freq_divisors is not None:
        inv_freq = inv_freq / cfg.rope_freq_divisors
    angles = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]
    cos = np.cos(angles)[:, None, :]  # [T, 1, half]
    sin = np.sin(angles)[:, None, :]
    out = x.copy()
    if cfg.rope_interleaved:
        a = x[..., 0:rope_dim:2]
        b = x[..., 1:rope_dim:2]
        out[..., 0:rope_dim:2] = a * cos - b * sin
        out[..., 1:rope_dim:2] = a * sin + b * cos
    else:
        a = x[..., :half]
        b = x[..., half:rope_dim]
        out[..., :half] = a * cos - b * sin
        out[..., half:rope_dim] = a * sin + b * cos
    return out


class KVCache:
    """Per-layer keys/values [S, kv_heads, head_dim] after RoPE."""

    def __init__(self, num_layers):
        self.k = [None] * num_layers
        self.v = [None] * num_layers

    @property
    def length(self):
        return 0 if self.k[0] is None else self.k[0].shape[0]


def forward(model: Model, tokens, cache: Optional[KVCache] = None):
    """Returns float64 logits [T, vocab] for `tokens` appended after `cache`.

    Without a cache, tokens start at position 0 (teacher forcing). With a cache,
    positions continue from cache.length and the cache is extended in place.
    """
    cfg = model.config
    tokens = np.asarray(tokens, dtype=np.int64)
    t_len = tokens.shape[0]
    start = cache.length if cache is not None else 0
    positions = np.arange(start, start + t_len)
    group = cfg.num_heads // cfg.num_kv_heads
    scale = 1.0 / math.sqrt(cfg.head_dim)

    h = model.embed[tokens]
    for li, layer in enumerate(model.layers):
        a = rms_norm(h, layer.attn_norm, cfg.rms_norm_eps)
        q = a @ layer.wq.T
        k = a @ layer.wk.T
        v = a @ layer.wv.T
        if layer.bq is not None:
            q = q + layer.bq
            k = k + layer.bk
            v = v + layer.bv
        q = rope(q.reshape(t_len, cfg.num_heads, cfg.head_dim), positions, cfg)
        k = rope(k.reshape(t_len, cfg.num_kv_heads, cfg.head_dim), positions, cfg)
        v = v.reshape(t_len, cfg.num_kv_heads, cfg.head_dim)
        if cache is not None:
            if cache.k[li] is not None:
                k = np.concatenate([cache.k[li], k], axis=0)
                v = np.concatenate([cache.v[li], v], axis=0)
            cache.k[li], cache.v[li] = k, v
        s_len = k.shape[0]
        # Query at absolute position p sees keys at positions <= p.
        key_pos = np.arange(s_len)
        mask = key_pos[None, :] > positions[:, None]  # [T, S]
        k_full = np.repeat(k, group, axis=1)  # [S, heads, hd]
        v_full = np.repeat(v, group, axis=1)
        scores = np.einsum("thd,shd->hts", q, k_full) * scale
        scores = np.where(mask[None], -np.inf, scores)
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        o = np.einsum("hts,shd->thd", probs, v_full).reshape(t_len, -1)
        h = h + o @ layer.wo.T
        m = rms_norm(h, layer.ffn_norm, cfg.rms_norm_eps)
        h = h + (silu(m @ layer.w_gate.T) * (m @ layer.w_up.T)) @ layer.w_down.T
    h = rms_norm(h, model.norm, cfg.rms_norm_eps)
    return h @ model.lm_head.T


def greedy_generate(model: Model, prompt_ids, max_tokens, stop_ids=()):
    """Greedy continuation with a KV cache.

    Returns the generated ids; generation ends after max_tokens or right after a
    token in stop_ids is produced (that stop token is included in the result).
    """
    cache = KVCache(model.config.num_layers)
    logits = forward(model, prompt_ids, cache)
    out = []
    stop = set(int(s) for s in stop_ids)
    while len(out) < max_tokens:
        nxt = int(np.argmax(logits[-1]))
        out.append(nxt)
        if nxt in stop:
            break
        logits = forward(model, [nxt], cache)
    return out


# --------------------------------------------------------------------------
# Comparison metrics used by the tests


def max_rel_error_per_position(actual, expected):
    """max|a - b| / max|b| for each row (position)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    return np.max(np.abs(actual - expected), axis=-1) / np.max(np.abs(expected), axis=-1)


def cosine_per_position(actual, expected):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    num = np.sum(actual * expected, axis=-1)
    den = np.linalg.norm(actual, axis=-1) * np.linalg.norm(expected, axis=-1)
    return num / den
