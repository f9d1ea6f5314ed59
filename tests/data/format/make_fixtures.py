#!/usr/bin/env python3
"""Writes tiny model files with the reference Python writers (gguf-py, safetensors).

The C++ readers are tested against these files (tests/format/reference_files_test.cc) and the
fuzzers use them as seeds. Usage: make_fixtures.py OUT_DIR
"""
import os
import sys

import numpy as np
import gguf
from safetensors.numpy import save_file


def write_gguf(path):
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("fixture")
    w.add_context_length(128)
    w.add_embedding_length(64)
    w.add_feed_forward_length(96)
    w.add_block_count(1)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["<s>", "a", "b", "ab"])
    w.add_token_types([3, 1, 1, 1])
    w.add_array("test.floats", [0.5, -1.25])
    w.add_bool("test.flag", True)
    w.add_int64("test.i64", -7)
    w.add_string("test.str", "héllo")
    # token_embd: F32 [vocab 4, hidden 64], values 0..255
    w.add_tensor("token_embd.weight", np.arange(256, dtype=np.float32).reshape(4, 64))
    w.add_tensor("blk.0.attn_norm.weight", np.linspace(-1, 1, 64).astype(np.float16))
    # Q8_0 [2 rows, 32 cols]: per block fp16 scale + 32 int8. Raw bytes; raw_shape is in bytes.
    q8 = bytearray()
    for row in range(2):
        q8 += np.float16(0.5 * (row + 1)).tobytes()
        q8 += np.arange(-16, 16, dtype=np.int8).tobytes()
    w.add_tensor("blk.0.attn_q.weight", np.frombuffer(bytes(q8), dtype=np.uint8),
                 raw_shape=[2, 34], raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_kquants(path):
    """One tensor of each K-quant / IQ4 block layout (and Q5_x), random bytes: seeds that reach
    the type table and the block-size checks."""
    rng = np.random.default_rng(26)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("kquant fixture")
    T = gguf.GGMLQuantizationType
    for qtype in (T.Q5_0, T.Q5_1, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K, T.IQ4_NL, T.IQ4_XS):
        block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        cols = 256
        rows = 2
        raw = rng.integers(0, 256, size=(rows, cols // block_elems * block_bytes), dtype=np.uint8)
        w.add_tensor(f"w_{qtype.name.lower()}", raw, raw_shape=list(raw.shape), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_safetensors(path):
    save_file({
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": np.array([1.5, -2.0], dtype=np.float16),
    }, path, metadata={"format": "np"})


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    write_gguf(os.path.join(out, "tiny_llama.gguf"))
    write_safetensors(os.path.join(out, "tiny.safetensors"))
    write_kquants(os.path.join(out, "tiny_kquants.gguf"))


if __name__ == "__main__":
    main()
