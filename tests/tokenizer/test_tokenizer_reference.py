"""Exactness tests of libinfer's tokenizers against independent references.

Byte-level BPE: the SmolLM2 vocabulary and merges (read from the real GGUF with the `gguf`
package) are loaded into a Hugging Face `tokenizers` Tokenizer with each supported
pre-tokenizer; the folder it saves is read by `infer_tokenize --hf-folder`, and the ids of every
corpus text must be identical. SentencePiece: a small BPE model with byte fallback is trained on
the corpus with the `sentencepiece` package; libinfer encodes both from `tokenizer.model` and
from a spec holding only tokens/scores/types (what a GGUF `llama` vocabulary gives), and must
match the package's ids.

Environment: INFER_TOKENIZE_TOOL (the infer_tokenize binary, required), INFER_SMOLLM2_GGUF
(SmolLM2-135M-Instruct GGUF; the BPE tests skip without it).
"""
import json
import os
import pathlib
import subprocess
import time

import pytest

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE.parent / "data" / "tokenizer" / "corpus.txt"
TOOL = os.environ.get("INFER_TOKENIZE_TOOL")
GGUF = os.environ.get("INFER_SMOLLM2_GGUF")

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def corpus_texts():
    """Every corpus line, windows of 4 lines joined by newlines, and the whole file."""
    raw = CORPUS.read_bytes().decode("utf-8")
    lines = raw.split("\n")
    texts = list(lines)
    texts += ["\n".join(lines[i:i + 4]) for i in range(0, len(lines), 3)]
    texts.append(raw)
    return texts


def run_tool(args, texts):
    if not TOOL:
        pytest.fail("INFER_TOKENIZE_TOOL is not set (run through ctest)")
    stdin = "".join(json.dumps(t) + "\n" for t in texts)
    proc = subprocess.run([TOOL, *args, "--json-input", "--decode"], input=stdin.encode(),
                          capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode("utf-8").splitlines()
    assert len(out) == len(texts)
    results = []
    for text, line in zip(texts, out):
        assert not line.startswith("ERROR"), f"{text!r}: {line}"
        results.append(json.loads(line))
    return results


def assert_same_ids(texts, ours, reference_ids, reference_decode, specials=()):
    """Same ids; Decode, StreamDecoder and the reference's decoder give back the text (less the
    special tokens' text, which decoding omits)."""
    mismatches = []
    for text, got, want in zip(texts, ours, reference_ids):
        if got["ids"] != want:
            mismatches.append(f"{text[:60]!r}:\n   ours {got['ids'][:40]}\n   ref  {want[:40]}")
    assert not mismatches, f"{len(mismatches)} texts differ:\n" + "\n".join(mismatches[:10])
    for text, got in zip(texts, ours):
        for special in specials:
            text = text.replace(special, "")
        assert got["text"] == text, f"Decode does not round-trip {text!r}: {got['text']!r}"
        assert got["stream"] == text, f"StreamDecoder differs on {text!r}: {got['stream']!r}"
        assert reference_decode(got["ids"]) == text


# ---- byte-level BPE -------------------------------------------------------------------------

def read_gguf_vocab(path):
    import gguf  # pylint: disable=import-outside-toplevel
    reader = gguf.GGUFReader(path)

    def strings(key):
        field = reader.fields[key]
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    def scalar(key):
        field = reader.fields[key]
        return int(field.parts[field.data[0]][0])

    types = [int(reader.fields["tokenizer.ggml.token_type"].parts[i][0])
             for i in reader.fields["tokenizer.ggml.token_type"].data]
    return {
        "tokens": strings("tokenizer.ggml.tokens"),
        "merges": strings("tokenizer.ggml.merges"),
        "types": types,
        "bos": scalar("tokenizer.ggml.bos_token_id"),
        "eos": scalar("tokenizer.ggml.eos_token_id"),
    }


@pytest.fixture(scope="module")
def smollm2_vocab():
    if not GGUF or not os.path.exists(GGUF):
        pytest.skip("INFER_SMOLLM2_GGUF is not set or missing: the byte-level BPE reference "
                    "tests need the SmolLM2-135M-Instruct GGUF")
    return read_gguf_vocab(GGUF)


def pre_tokenizer_for(name):
    from tokenizers import Regex, pre_tokenizers  # pylint: disable=import-outside-toplevel
    if name == "gpt2":
        return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if name == "smollm":  # SmolLM2's real tokenizer.json pre-tokenizer
        return pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    regex = LLAMA3_REGEX if name == "llama-bpe" else QWEN2_REGEX
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


def build_hf_bpe(vocab, pre, ignore_merges, folder):
    from tokenizers import AddedToken, Tokenizer, decoders, models  # pylint: disable=import-outside-toplevel
    tokens = vocab["tokens"]
    assert len(set(tokens)) == len(tokens)
    model = models.BPE(vocab={t: i for i, t in enumerate(tokens)},
                       merges=[tuple(m.split(" ")) for m in vocab["merges"]],
                       ignore_merges=ignore_merges)
    tok = Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizer_for(pre)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                            for i, t in enumerate(vocab["types"]) if t == 3])
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "bos_token": tokens[vocab["bos"]], "eos_token": {"content": tokens[vocab["eos"]]},
        "add_bos_token": False, "chat_template": [{"name": "default", "template": "{{x}}"}]}))
    return tok


def with_digit_merges(vocab):
    """SmolLM2's vocabulary has single digits only, which would hide how a pre-tokenizer groups
    digits; this adds every 2- and 3-digit token and its merges (lowest priority)."""
    tokens = list(vocab["tokens"])
    known = set(tokens)
    merges = list(vocab["merges"])
    types = list(vocab["types"])
    digits = "0123456789"
    for a in digits:
        for b in digits:
            for left, right in [(a, b)] + [(a + b, c) for c in digits]:
                if left + right not in known:
                    known.add(left + right)
                    tokens.append(left + right)
                    types.append(1)
                merges.append(f"{left} {right}")
    # Pairs first, then triples, so that "12 3" comes after "1 2" and "2 3".
    merges.sort(key=lambda m: (len(m) > 3 and m[0].isdigit() and m.replace(" ", "").isdigit()))
    return dict(vocab, tokens=tokens, merges=merges, types=types)


@pytest.mark.parametrize("pre,ignore_merges,digit_merges", [
    ("smollm", False, False), ("gpt2", False, True), ("llama-bpe", True, True),
    ("llama-bpe", False, True), ("qwen2", False, True)])
def test_bpe_matches_hf_tokenizers(smollm2_vocab, tmp_path, pre, ignore_merges, digit_merges):
    vocab = with_digit_merges(smollm2_vocab) if digit_merges else smollm2_vocab
    hf = build_hf_bpe(vocab, pre, ignore_merges, tmp_path / pre)
    texts = corpus_texts()
    reference = [hf.encode(t, add_special_tokens=False).ids for t in texts]
    ours = run_tool(["--hf-folder", str(tmp_path / pre)], texts)
    specials = [t for t, k in zip(smollm2_vocab["tokens"], smollm2_vocab["types"]) if k == 3]
    assert_same_ids(texts, ours, reference, hf.decode, specials)


def test_bpe_special_tokens_and_bos(smollm2_vocab, tmp_path):
    hf = build_hf_bpe(smollm2_vocab, "smollm", False, tmp_path / "s")
    text = "<|im_start|>user\nHi<|im_end|>"
    ours = run_tool(["--hf-folder", str(tmp_path / "s")], [text])[0]["ids"]
    assert ours[0] == 1 and ours[-1] == 2  # <|im_start|>, <|im_end|> as single ids
    assert ours == hf.encode(text).ids
    plain = run_tool(["--hf-folder", str(tmp_path / "s"), "--no-special"], [text])[0]["ids"]
    assert 1 not in plain and 2 not in plain
    # add_bos_token from tokenizer_config.json.
    cfg = json.loads((tmp_path / "s" / "tokenizer_config.json").read_text())
    cfg["add_bos_token"] = True
    (tmp_path / "s" / "tokenizer_config.json").write_text(json.dumps(cfg))
    with_bos = run_tool(["--hf-folder", str(tmp_path / "s")], ["Hi"])[0]["ids"]
    assert with_bos == [smollm2_vocab["bos"]] + hf.encode("Hi").ids
    assert run_tool(["--hf-folder", str(tmp_path / "s"), "--no-bos"], ["Hi"])[0]["ids"] == \
        hf.encode("Hi").ids


def test_bpe_on_one_megabyte_matches_tokenizers(smollm2_vocab, tmp_path):
    """A megabyte in one piece, equal to `tokenizers`; the time is printed, not asserted (speed
    is a benchmark's business: sanitizer builds run this too)."""
    hf = build_hf_bpe(smollm2_vocab, "smollm", False, tmp_path / "s")
    raw = CORPUS.read_text(encoding="utf-8")
    big = (raw * (1_000_000 // len(raw.encode()) + 1))
    args = [TOOL, "--hf-folder", str(tmp_path / "s"), "--json-input"]
    start = time.monotonic()
    subprocess.run(args, input=b"", check=True, capture_output=True)
    load = time.monotonic() - start
    start = time.monotonic()
    proc = subprocess.run(args, input=(json.dumps(big) + "\n").encode(), check=True,
                          capture_output=True)
    encode = time.monotonic() - start - load
    ids = [int(x) for x in proc.stdout.split()]
    assert ids == hf.encode(big).ids
    print(f"encoded {len(big.encode())} bytes in {encode:.3f} s (load {load:.3f} s)")


# ---- SentencePiece ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spm_model(tmp_path_factory):
    import sentencepiece as spm  # pylint: disable=import-outside-toplevel
    folder = tmp_path_factory.mktemp("spm")
    spm.SentencePieceTrainer.train(
        input=str(CORPUS), model_prefix=str(folder / "tokenizer"), model_type="bpe",
        vocab_size=700, byte_fallback=True, character_coverage=0.98,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        hard_vocab_limit=False, minloglevel=2)
    return folder, spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))


def spm_texts():
    # SentencePiece works on text without the "\n" segmentation a BPE pre-tokenizer adds; give
    # it the lines and the multi-line windows alike.
    return corpus_texts()


def test_spm_from_model_file_matches_sentencepiece(spm_model):
    folder, sp = spm_model
    texts = spm_texts()
    reference = [sp.encode(t) for t in texts]
    assert any(sp.is_byte(i) for ids in reference for i in ids), "corpus never uses byte fallback"
    ours = run_tool(["--hf-folder", str(folder), "--no-bos"], texts)
    assert_same_ids(texts, ours, reference, sp.decode)
    with_bos = run_tool(["--hf-folder", str(folder)], ["Hello"])[0]["ids"]
    assert with_bos == [sp.bos_id()] + sp.encode("Hello")


def spm_spec_json(sp, path):
    def kind(i):
        if sp.is_unknown(i):
            return 2
        if sp.is_control(i):
            return 3
        if sp.is_unused(i):
            return 5
        if sp.is_byte(i):
            return 6
        return 1

    n = sp.get_piece_size()
    spec = {"model": "llama", "tokens": [sp.id_to_piece(i) for i in range(n)],
            "scores": [sp.get_score(i) for i in range(n)],
            "token_types": [kind(i) for i in range(n)],
            "bos_id": sp.bos_id(), "eos_id": sp.eos_id(), "unk_id": sp.unk_id(),
            "add_bos": True, "add_space_prefix": True}
    path.write_text(json.dumps(spec))
    return path


def test_spm_rebuilt_from_vocabulary_matches_sentencepiece(spm_model, tmp_path):
    _, sp = spm_model
    spec = spm_spec_json(sp, tmp_path / "spec.json")
    texts = spm_texts()
    reference = [sp.encode(t) for t in texts]
    ours = run_tool(["--spec-json", str(spec), "--no-bos"], texts)
    assert_same_ids(texts, ours, reference, sp.decode)
    with_bos = run_tool(["--spec-json", str(spec)], ["Hello"])[0]["ids"]
    assert with_bos == [sp.bos_id()] + sp.encode("Hello")
