// The library's side of infer::Grammar: the compiled rules and, per vocabulary, the index of
// states and masks that requests share.
#ifndef INFER_GRAMMAR_GRAMMAR_IMPL_H_
#define INFER_GRAMMAR_GRAMMAR_IMPL_H_

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "infer/grammar.h"
#include "libinfer/grammar/matcher.h"
#include "libinfer/grammar/rules.h"

namespace infer {

class GrammarImpl final : public Grammar {
 public:
  GrammarImpl(std::string_view kind, grammar::Rules rules)
      : Grammar(kind), rules_(std::make_shared<const grammar::Rules>(std::move(rules))) {}

  // The index of this grammar over `trie`'s vocabulary, made on first use.
  std::shared_ptr<grammar::GrammarIndex> IndexFor(
      const std::shared_ptr<const grammar::TokenTrie>& trie) const;

  const grammar::Rules& rules() const { return *rules_; }

 private:
  std::shared_ptr<const grammar::Rules> rules_;
  mutable std::mutex mu_;
  mutable std::vector<std::pair<const grammar::TokenTrie*, std::shared_ptr<grammar::GrammarIndex>>>
      indexes_;
};

inline const GrammarImpl& ImplOf(const Grammar& g) { return static_cast<const GrammarImpl&>(g); }

// A matcher for one request of `grammar` over `trie`.
std::unique_ptr<grammar::GrammarMatcher> MakeMatcher(
    const Grammar& grammar, const std::shared_ptr<const grammar::TokenTrie>& trie);

}  // namespace infer

#endif  // INFER_GRAMMAR_GRAMMAR_IMPL_H_
