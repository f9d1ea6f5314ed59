// Runs a grammar (rules.h) over a model's vocabulary: which tokens may come next.
//
// The parser state is a set of stacks of grammar positions (a top-down parser that keeps every
// alternative alive, as llama.cpp's GBNF engine does). States are interned: each distinct set
// gets an id, a lazily filled 256-entry transition table and, once asked, a cached token mask.
// So the states of a grammar grow into a DFA as requests visit them, and a mask is computed once
// per state by walking the vocabulary's byte trie (a dead branch prunes every token below it),
// then reused by every request that reaches that state with the same grammar object.
#ifndef INFER_GRAMMAR_MATCHER_H_
#define INFER_GRAMMAR_MATCHER_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "infer/tokenizer.h"
#include "libinfer/grammar/rules.h"

namespace infer::grammar {

// The vocabulary as a byte trie: each token's decoded bytes (Tokenizer::TokenBytes) is a path
// from the root. Control tokens are left out; end-of-generation tokens are listed apart (a
// grammar allows them where it may end). Immutable; one per tokenizer.
class TokenTrie {
 public:
  static std::shared_ptr<const TokenTrie> Build(const Tokenizer& tokenizer);

  struct Node {
    int32_t first_edge = 0;  // edges [first_edge, first_edge + num_edges), by byte
    int32_t num_edges = 0;
    int32_t first_token = 0;  // tokens whose bytes end here
    int32_t num_tokens = 0;
  };
  std::vector<Node> nodes;  // nodes[0] is the root
  std::vector<uint8_t> edge_byte;
  std::vector<int32_t> edge_child;
  std::vector<TokenId> tokens;
  std::vector<TokenId> end_tokens;  // end-of-generation tokens
  std::vector<std::string> token_bytes;
  std::vector<bool> is_end;  // per token
  int32_t vocab_size = 0;
};

// One grammar over one vocabulary: the interned states, their transitions and masks. Shared by
// every request with the same grammar object; thread-safe.
class GrammarIndex {
 public:
  GrammarIndex(std::shared_ptr<const Rules> rules, std::shared_ptr<const TokenTrie> trie);

  static constexpr int32_t kDead = -1;

  int32_t initial() const { return initial_; }
  // The state after `token` from `state`; kDead when the grammar does not allow it.
  int32_t Advance(int32_t state, TokenId token);
  // The tokens allowed in `state`, as bits (vocab_size bits, 1 = allowed), into `mask`.
  void Mask(int32_t state, std::vector<uint64_t>* mask);
  // The grammar may end here (end-of-generation tokens are allowed).
  bool accepting(int32_t state);
  // The grammar has ended and nothing may follow.
  bool finished(int32_t state);
  // Not OK once the grammar outgrew the state limits (the request that hit them fails).
  absl::Status status();

  const TokenTrie& trie() const { return *trie_; }

  // Limits on the interned tables: a grammar that needs more is too ambiguous to serve.
  static constexpr size_t kMaxStates = 1 << 16;
  static constexpr size_t kMaxStackNodes = 1 << 21;
  static constexpr size_t kMaxCachedMasks = 4096;

 private:
  struct State {
    std::vector<int32_t> stacks;  // stack node ids, sorted
    bool accepting = false;
    std::unique_ptr<int32_t[]> next;  // 256 transitions; kUnknown until computed
    std::vector<uint64_t> mask;       // cached token mask; empty until computed
  };
  static constexpr int32_t kUnknown = -2;

  int32_t Node(int32_t pos, int32_t parent);
  // Adds to `out` the stacks that continue at `pos` over `parent`, expanded until each top
  // is a byte set; sets *accepting when one reaches the end of the root rule.
  void Expand(int32_t pos, int32_t parent, std::vector<int32_t>* out, bool* accepting);
  int32_t Intern(std::vector<int32_t> stacks, bool accepting);
  int32_t Step(int32_t state, uint8_t byte);
  void ComputeMask(int32_t state, std::vector<uint64_t>* mask);

  std::shared_ptr<const Rules> rules_;
  std::shared_ptr<const TokenTrie> trie_;
  std::mutex mu_;
  std::vector<std::pair<int32_t, int32_t>> nodes_;  // (position, parent node or -1)
  absl::flat_hash_map<std::pair<int32_t, int32_t>, int32_t> node_ids_;
  std::vector<State> states_;
  absl::flat_hash_map<std::vector<int32_t>, int32_t> state_ids_;  // stacks + accepting flag
  size_t cached_masks_ = 0;
  absl::Status status_;
  int32_t initial_ = kDead;
};

// One request's place in its grammar. Not thread-safe.
class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<GrammarIndex> index)
      : index_(std::move(index)), state_(index_->initial()) {}

  // Computes (and caches) the mask of the current state ahead of ApplyMask.
  void Prime() { index_->Mask(state_, &mask_); }
  // Sets the logits of the tokens the grammar does not allow to -infinity. FailedPrecondition
  // when it allows none (or outgrew its limits).
  absl::Status ApplyMask(std::span<float> logits);
  // Moves past `token`; InvalidArgument when the grammar does not allow it.
  absl::Status Accept(TokenId token);
  // The grammar has ended: nothing may follow the accepted tokens.
  bool finished() const { return finished_; }

 private:
  std::shared_ptr<GrammarIndex> index_;
  int32_t state_;
  bool finished_ = false;
  std::vector<uint64_t> mask_;
};

}  // namespace infer::grammar

#endif  // INFER_GRAMMAR_MATCHER_H_
