// The behaviour BPE and SentencePiece tokenizers share: the vocabulary, special-token splitting,
// BOS/EOS rules, UTF-8 validation and decoding. Subclasses only turn plain text into ids and say
// what bytes each token decodes to.
#ifndef INFER_TOKENIZER_VOCAB_TOKENIZER_H_
#define INFER_TOKENIZER_VOCAB_TOKENIZER_H_

#include <array>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "infer/tokenizer.h"
#include "libinfer/tokenizer/tokenizer_spec.h"

namespace infer {

// Checks what every tokenizer needs of a spec: a non-empty vocabulary, scores / token_types empty
// or of the vocabulary's size, special ids in range. InvalidArgument naming the field otherwise.
absl::Status ValidateTokenizerSpec(const TokenizerSpec& spec);

// The type of token `id` (kNormal when the spec gives no types).
TokenType SpecTokenType(const TokenizerSpec& spec, TokenId id);

class VocabTokenizer : public Tokenizer {
 public:
  absl::StatusOr<std::vector<TokenId>> Encode(std::string_view text,
                                              const EncodeOptions& options) const final;
  absl::StatusOr<std::string> Decode(std::span<const TokenId> ids, bool keep_special) const final;
  std::string TokenBytes(TokenId id) const final { return token_bytes_[id]; }
  std::string_view TokenText(TokenId id) const final { return tokens_[id]; }
  int32_t vocab_size() const final { return static_cast<int32_t>(tokens_.size()); }
  TokenId bos_id() const final { return bos_id_; }
  TokenId eos_id() const final { return eos_id_; }
  bool IsEndOfGeneration(TokenId id) const final;
  bool IsSpecial(TokenId id) const final;

 protected:
  // `spec` must have passed ValidateTokenizerSpec.
  explicit VocabTokenizer(const TokenizerSpec& spec);

  // Appends the ids of `text` (valid UTF-8 with no special-token text to honour).
  virtual absl::Status EncodeText(std::string_view text, std::vector<TokenId>* ids) const = 0;

  TokenType type(TokenId id) const { return types_[id]; }

  // What each token decodes to; filled by the subclass's constructor.
  std::vector<std::string> token_bytes_;
  // SentencePiece: drop the space the dummy prefix put before the first word when decoding.
  bool strip_leading_space_ = false;

 private:
  std::vector<std::string> tokens_;
  std::vector<TokenType> types_;
  TokenId bos_id_;
  TokenId eos_id_;
  bool add_bos_;
  bool add_eos_;
  std::vector<bool> end_of_generation_;
  // Special / added tokens (kControl, kUserDefined) by first byte, longest text first.
  std::array<std::vector<std::pair<std::string_view, TokenId>>, 256> specials_;
};

}  // namespace infer

#endif  // INFER_TOKENIZER_VOCAB_TOKENIZER_H_
