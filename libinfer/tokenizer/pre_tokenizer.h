// Pre-tokenizers for byte-level BPE: split text into the "words" BPE merges within, exactly as
// the regular expressions the models were trained with would. Each is a hand-written scanner
// over code points (no regex engine handles \p{L} with look-ahead portably here); the
// alternatives of each pattern are tried in order at every position, like a backtracking regex.
#ifndef INFER_TOKENIZER_PRE_TOKENIZER_H_
#define INFER_TOKENIZER_PRE_TOKENIZER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace infer {

enum class PreTokenizerKind {
  // GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  kGpt2,
  // SmolLM2 (HF Sequence[Digits(individual_digits), ByteLevel(use_regex)]): every \p{N} code
  // point is its own piece; the text between digits is split with the GPT-2 pattern.
  kSmolLm,
  // Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
  //          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  kLlama3,
  // Qwen2: the Llama 3 pattern with \p{N} (single digits) instead of \p{N}{1,3}.
  kQwen2,
};

// Maps a GGUF `tokenizer.ggml.pre` name: "" / "default" / "gpt2" -> kGpt2, "smollm" -> kSmolLm,
// "llama-bpe" / "llama3" -> kLlama3, "qwen2" -> kQwen2. InvalidArgument for other names.
absl::StatusOr<PreTokenizerKind> PreTokenizerFromName(std::string_view name);

// Appends the pieces of `text` to `pieces` (views into `text`; concatenated they give `text`).
// `text` must be valid UTF-8 (check with FindInvalidUtf8 first).
void PreTokenize(PreTokenizerKind kind, std::string_view text,
                 std::vector<std::string_view>* pieces);

}  // namespace infer

#endif  // INFER_TOKENIZER_PRE_TOKENIZER_H_
