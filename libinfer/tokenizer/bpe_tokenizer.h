// Byte-level BPE (GPT-2 family: GPT-2, SmolLM2, Llama 3, Qwen2): text bytes are mapped to
// printable code points (GPT-2's byte<->unicode table), split into words by a pre-tokenizer, and
// each word is merged pairwise in the order of the `merges` list.
#ifndef INFER_TOKENIZER_BPE_TOKENIZER_H_
#define INFER_TOKENIZER_BPE_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "libinfer/tokenizer/pre_tokenizer.h"
#include "libinfer/tokenizer/tokenizer_spec.h"
#include "libinfer/tokenizer/vocab_tokenizer.h"

namespace infer {

// The code point GPT-2's byte-level encoding represents byte `b` with.
uint32_t ByteToUnicode(uint8_t b);

class BpeTokenizer final : public VocabTokenizer {
 public:
  // InvalidArgument for a bad spec: see ValidateTokenizerSpec, plus merges that are not two
  // space-separated vocabulary entries whose concatenation is also one, an unknown `pre`.
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> Create(const TokenizerSpec& spec);

 private:
  struct Merge {
    int32_t rank;
    TokenId result;
  };

  BpeTokenizer(const TokenizerSpec& spec, PreTokenizerKind pre);
  absl::Status EncodeText(std::string_view text, std::vector<TokenId>* ids) const override;
  // BPE over one pre-tokenized word.
  void EncodeWord(std::string_view word, std::vector<TokenId>* ids) const;

  static uint64_t PairKey(TokenId a, TokenId b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  PreTokenizerKind pre_;
  bool ignore_merges_;
  TokenId unk_id_;
  absl::flat_hash_map<std::string, TokenId> token_to_id_;
  absl::flat_hash_map<uint64_t, Merge> merges_;
  // Id of the single-code-point token for each byte, -1 when the vocabulary lacks it.
  std::array<TokenId, 256> byte_token_{};
};

}  // namespace infer

#endif  // INFER_TOKENIZER_BPE_TOKENIZER_H_
