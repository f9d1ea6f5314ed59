// Shared by the grammar fuzz targets: runs compiled rules over a vocabulary of single bytes and a
// few multi-byte pieces, walking the states the input's own bytes choose.
#ifndef INFER_FUZZ_FUZZ_GRAMMAR_H_
#define INFER_FUZZ_FUZZ_GRAMMAR_H_

#include <memory>
#include <string>
#include <vector>

#include "infer/tokenizer.h"
#include "libinfer/grammar/matcher.h"

namespace infer::fuzz {

class PieceTokenizer final : public Tokenizer {
 public:
  PieceTokenizer() {
    pieces_.emplace_back("");  // end of generation
    for (int b = 0; b < 256; ++b) pieces_.emplace_back(1, static_cast<char>(b));
    for (const char* p : {"{\"", "\": ", ", ", "true", "null", "\xce\xb1", "12", "abc"}) {
      pieces_.emplace_back(p);
    }
  }
  absl::StatusOr<std::vector<TokenId>> Encode(std::string_view,
                                              const EncodeOptions&) const override {
    return std::vector<TokenId>{};
  }
  absl::StatusOr<std::string> Decode(std::span<const TokenId>, bool) const override {
    return std::string();
  }
  std::string TokenBytes(TokenId id) const override { return pieces_[static_cast<size_t>(id)]; }
  std::string_view TokenText(TokenId id) const override { return pieces_[static_cast<size_t>(id)]; }
  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  TokenId bos_id() const override { return -1; }
  TokenId eos_id() const override { return 0; }
  bool IsEndOfGeneration(TokenId id) const override { return id == 0; }
  bool IsSpecial(TokenId id) const override { return id == 0; }

 private:
  std::vector<std::string> pieces_;
};

// Masks and advances through up to 16 steps, choosing among the allowed tokens by `choice`.
inline void Walk(grammar::Rules rules, const std::string& choice) {
  static const std::shared_ptr<const grammar::TokenTrie> trie =
      grammar::TokenTrie::Build(PieceTokenizer());
  grammar::GrammarIndex index(std::make_shared<const grammar::Rules>(std::move(rules)), trie);
  int32_t state = index.initial();
  std::vector<uint64_t> mask;
  for (size_t step = 0; step < 16 && state != grammar::GrammarIndex::kDead; ++step) {
    index.Mask(state, &mask);
    std::vector<TokenId> allowed;
    for (TokenId id = 0; id < trie->vocab_size; ++id) {
      if ((mask[static_cast<size_t>(id) / 64] >> (id % 64)) & 1) allowed.push_back(id);
    }
    if (allowed.empty() || index.finished(state)) return;
    const auto pick = static_cast<unsigned char>(step < choice.size() ? choice[step] : 0);
    const TokenId id = allowed[pick % allowed.size()];
    if (id == 0) return;
    state = index.Advance(state, id);
    if (state == grammar::GrammarIndex::kDead) __builtin_trap();  // the mask allowed it
  }
}

}  // namespace infer::fuzz

#endif  // INFER_FUZZ_FUZZ_GRAMMAR_H_
