"""A reference tokenizer for GGUF `gpt2`-model vocabularies (SmolLM2), built with
the HF `tokenizers` package from the vocabulary and merges stored in the GGUF.

Pre-tokenization follows SmolLM2's published tokenizer (GGUF pre "smollm"):
every digit is split alone, then GPT-2 byte-level splitting without a prefix
space. Control tokens (token_type 3, e.g. <|im_start|>) are matched as special
tokens in the input text.
"""

from typing import List


def load_from_gguf(path):
    """Returns a tokenizers.Tokenizer equivalent to the GGUF's gpt2 vocabulary."""
    import gguf  # pylint: disable=import-outside-toplevel
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    reader = gguf.GGUFReader(path)

    def field(key):
        f = reader.fields.get(key)
        return None if f is None else f.contents()

    if field("tokenizer.ggml.model") != "gpt2":
        raise ValueError("not a gpt2-vocabulary GGUF")
    tokens: List[str] = field("tokenizer.ggml.tokens")
    types = field("tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in field("tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                            for i, t in enumerate(types) if t == 3])
    return tok


def encode(tok, text) -> List[int]:
    return tok.encode(text, add_special_tokens=False).ids


def decode(tok, ids) -> str:
    return tok.decode(list(ids), skip_special_tokens=False)
