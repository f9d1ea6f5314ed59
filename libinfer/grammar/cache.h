// A small process-wide cache of compiled grammars, so that requests with the same source share
// one Grammar and its token-mask cache.
#ifndef INFER_GRAMMAR_CACHE_H_
#define INFER_GRAMMAR_CACHE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "infer/grammar.h"

namespace infer::grammar {

// The compiled grammar for `key` (the kind and source of a grammar), made by `make` when not in
// the LRU (32 entries, most recently used kept). A failure is not kept. Thread-safe.
absl::StatusOr<std::shared_ptr<const Grammar>> CachedGrammar(
    const std::string& key,
    const std::function<absl::StatusOr<std::shared_ptr<const Grammar>>()>& make);

}  // namespace infer::grammar

#endif  // INFER_GRAMMAR_CACHE_H_
