#include "infer/grammar.h"

#include "libinfer/grammar/compilers.h"
#include "libinfer/grammar/grammar_impl.h"
#include "libinfer/util/status_macros.h"

namespace infer {

absl::StatusOr<std::shared_ptr<const Grammar>> Grammar::FromJsonSchema(std::string_view schema) {
  INFER_ASSIGN_OR_RETURN(grammar::Rules rules, grammar::CompileJsonSchema(schema));
  return std::make_shared<const GrammarImpl>("json_schema", std::move(rules));
}

absl::StatusOr<std::shared_ptr<const Grammar>> Grammar::FromRegex(std::string_view pattern) {
  INFER_ASSIGN_OR_RETURN(grammar::Rules rules, grammar::CompileRegex(pattern));
  return std::make_shared<const GrammarImpl>("regex", std::move(rules));
}

absl::StatusOr<std::shared_ptr<const Grammar>> Grammar::FromChoices(
    std::span<const std::string> choices) {
  INFER_ASSIGN_OR_RETURN(grammar::Rules rules, grammar::CompileChoices(choices));
  return std::make_shared<const GrammarImpl>("choice", std::move(rules));
}

std::shared_ptr<const Grammar> Grammar::AnyJson(bool object_only) {
  return std::make_shared<const GrammarImpl>("json", grammar::CompileAnyJson(object_only));
}

std::shared_ptr<grammar::GrammarIndex> GrammarImpl::IndexFor(
    const std::shared_ptr<const grammar::TokenTrie>& trie) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, index] : indexes_) {
    if (key == trie.get()) return index;
  }
  auto index = std::make_shared<grammar::GrammarIndex>(rules_, trie);
  indexes_.emplace_back(trie.get(), index);
  return index;
}

std::unique_ptr<grammar::GrammarMatcher> MakeMatcher(
    const Grammar& grammar, const std::shared_ptr<const grammar::TokenTrie>& trie) {
  return std::make_unique<grammar::GrammarMatcher>(ImplOf(grammar).IndexFor(trie));
}

}  // namespace infer
