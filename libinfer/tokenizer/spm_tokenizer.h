// SentencePiece tokenizers (Llama 2, Mistral, ...), encoded by libsentencepiece itself: from a
// `tokenizer.model` (TokenizerSpec::spm_model_proto) or, for a GGUF `llama` vocabulary, from a
// ModelProto rebuilt out of the spec's tokens, scores and types.
#ifndef INFER_TOKENIZER_SPM_TOKENIZER_H_
#define INFER_TOKENIZER_SPM_TOKENIZER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "libinfer/tokenizer/spm_bridge.h"
#include "libinfer/tokenizer/tokenizer_spec.h"
#include "libinfer/tokenizer/vocab_tokenizer.h"

namespace infer {

class SpmTokenizer final : public VocabTokenizer {
 public:
  // InvalidArgument for an inconsistent spec (ValidateTokenizerSpec), a model proto that does
  // not load, or a proto whose vocabulary differs in size from `spec.tokens`.
  static absl::StatusOr<std::unique_ptr<SpmTokenizer>> Create(const TokenizerSpec& spec);

 private:
  SpmTokenizer(const TokenizerSpec& spec, std::unique_ptr<SpmBridge> spm, bool dummy_prefix);
  absl::Status EncodeText(std::string_view text, std::vector<TokenId>* ids) const override;

  std::unique_ptr<SpmBridge> spm_;
};

}  // namespace infer

#endif  // INFER_TOKENIZER_SPM_TOKENIZER_H_
