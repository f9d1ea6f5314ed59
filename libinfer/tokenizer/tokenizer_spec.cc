// CreateTokenizer: picks the implementation a TokenizerSpec names.
#include "libinfer/tokenizer/tokenizer_spec.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libinfer/tokenizer/bpe_tokenizer.h"
#include "libinfer/tokenizer/spm_tokenizer.h"

namespace infer {

absl::StatusOr<std::unique_ptr<Tokenizer>> CreateTokenizer(const TokenizerSpec& spec) {
  if (spec.model == "gpt2") {
    auto tok = BpeTokenizer::Create(spec);
    if (!tok.ok()) return tok.status();
    return std::unique_ptr<Tokenizer>(std::move(*tok));
  }
  if (spec.model == "llama") {
    auto tok = SpmTokenizer::Create(spec);
    if (!tok.ok()) return tok.status();
    return std::unique_ptr<Tokenizer>(std::move(*tok));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("tokenizer spec: unsupported model \"", spec.model,
                   "\" (supported: \"gpt2\" byte-level BPE, \"llama\" SentencePiece)"));
}

}  // namespace infer
