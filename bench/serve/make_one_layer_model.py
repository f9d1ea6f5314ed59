"""Writes 1-layer Llama GGUFs for measuring the HTTP server's own overhead: with little model
work per step, what the server costs per streamed token shows.

    python3 bench/serve/make_one_layer_model.py OUT_DIR
      -> OUT_DIR/one_layer.gguf        the test generator's shapes (hidden 64), one layer
         OUT_DIR/one_layer_wide.gguf   SmolLM2-135M's layer shapes (hidden 576, 9 heads of 64,
                                       3 KV heads, FFN 1536), one layer, the tiny vocabulary
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "python"))

import make_tiny_models as tiny  # noqa: E402  pylint: disable=wrong-import-position


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    tiny.LAYERS = 1
    sp = tiny.train_tokenizer(os.path.join(out_dir, "tokenizer.model"))
    weights = tiny.random_weights(np.random.default_rng(7), sp.get_piece_size())
    path = os.path.join(out_dir, "one_layer.gguf")
    tiny.write_gguf(path, "llama", tiny.to_gguf_names(weights, True), sp)
    print(path)
    tiny.HIDDEN, tiny.HEADS, tiny.KV_HEADS, tiny.HEAD_DIM, tiny.FFN = 576, 9, 3, 64, 1536
    weights = tiny.random_weights(np.random.default_rng(7), sp.get_piece_size())
    path = os.path.join(out_dir, "one_layer_wide.gguf")
    tiny.write_gguf(path, "llama", tiny.to_gguf_names(weights, True), sp)
    print(path)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/bench-models")
