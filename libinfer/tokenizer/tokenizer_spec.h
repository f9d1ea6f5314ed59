// The format-neutral description of a tokenizer, filled from a GGUF file's `tokenizer.ggml.*`
// metadata or from a Hugging Face folder, and turned into a Tokenizer by CreateTokenizer().
#ifndef INFER_TOKENIZER_TOKENIZER_SPEC_H_
#define INFER_TOKENIZER_TOKENIZER_SPEC_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "infer/tokenizer.h"

namespace infer {

// GGUF `tokenizer.ggml.token_type` values (llama.cpp's llama_token_type).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

struct TokenizerSpec {
  // "llama" (SentencePiece) or "gpt2" (byte-level BPE), as GGUF `tokenizer.ggml.model` names them.
  std::string model;
  // Pre-tokenizer for byte-level BPE, as GGUF `tokenizer.ggml.pre` names it: "default"/"gpt2",
  // "smollm", "llama-bpe" (Llama 3), "qwen2", ... Empty means the GPT-2 pattern.
  std::string pre;
  std::vector<std::string> tokens;     // vocabulary, index = id
  std::vector<float> scores;           // SentencePiece scores (may be empty for BPE)
  std::vector<TokenType> token_types;  // may be empty: all kNormal
  std::vector<std::string> merges;     // BPE merges "a b", highest priority first
  // BPE: a pre-tokenized word that is itself in the vocabulary is taken whole without merging
  // (HF `model.ignore_merges`, set by Llama 3's tokenizer.json).
  bool bpe_ignore_merges = false;
  TokenId bos_id = -1;
  TokenId eos_id = -1;
  TokenId unk_id = -1;
  TokenId pad_id = -1;
  TokenId eot_id = -1;  // end-of-turn, when the file names one (`tokenizer.ggml.eot_token_id`)
  bool add_bos = false;
  bool add_eos = false;
  bool add_space_prefix = true;  // SentencePiece: prepend "▁" to the text
  // A serialized SentencePiece ModelProto (HF `tokenizer.model`), when available; preferred over
  // rebuilding one from `tokens`/`scores`/`token_types`.
  std::string spm_model_proto;
  // The Jinja chat template (`tokenizer.chat_template`), "" when the model has none.
  std::string chat_template;
};

// Builds the tokenizer a spec describes. InvalidArgument naming the field for an inconsistent
// spec (e.g. sizes of tokens/scores differ, a merge names an unknown token, ids out of range).
absl::StatusOr<std::unique_ptr<Tokenizer>> CreateTokenizer(const TokenizerSpec& spec);

// Reads a Hugging Face folder's tokenizer: `tokenizer.json` (BPE) or `tokenizer.model`
// (SentencePiece), plus `tokenizer_config.json` (BOS/EOS rules, added tokens, chat template).
absl::StatusOr<TokenizerSpec> TokenizerSpecFromHfFolder(const std::string& dir);

}  // namespace infer

#endif  // INFER_TOKENIZER_TOKENIZER_SPEC_H_
