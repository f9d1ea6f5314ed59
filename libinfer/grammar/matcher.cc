#include "libinfer/grammar/matcher.h"

#include <algorithm>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"

namespace infer::grammar {

std::shared_ptr<const TokenTrie> TokenTrie::Build(const Tokenizer& tokenizer) {
  auto trie = std::make_shared<TokenTrie>();
  const int32_t vocab = tokenizer.vocab_size();
  trie->vocab_size = vocab;
  trie->token_bytes.resize(static_cast<size_t>(vocab));
  trie->is_end.assign(static_cast<size_t>(vocab), false);
  // A pointer trie first, then laid out breadth-first with each node's edges side by side.
  std::vector<std::map<uint8_t, int32_t>> children(1);
  std::vector<std::vector<TokenId>> ending(1);
  for (TokenId id = 0; id < vocab; ++id) {
    if (tokenizer.IsEndOfGeneration(id)) {
      trie->end_tokens.push_back(id);
      trie->is_end[static_cast<size_t>(id)] = true;
      continue;
    }
    if (tokenizer.IsSpecial(id)) continue;
    std::string bytes = tokenizer.TokenBytes(id);
    if (bytes.empty()) continue;
    int32_t node = 0;
    for (char c : bytes) {
      const auto b = static_cast<uint8_t>(c);
      auto it = children[static_cast<size_t>(node)].find(b);
      if (it == children[static_cast<size_t>(node)].end()) {
        children.emplace_back();
        ending.emplace_back();
        const auto child = static_cast<int32_t>(children.size() - 1);
        children[static_cast<size_t>(node)].emplace(b, child);
        node = child;
      } else {
        node = it->second;
      }
    }
    ending[static_cast<size_t>(node)].push_back(id);
    trie->token_bytes[static_cast<size_t>(id)] = std::move(bytes);
  }
  std::vector<int32_t> order{0};  // old ids in breadth-first order
  std::vector<int32_t> new_id(children.size(), 0);
  for (size_t i = 0; i < order.size(); ++i) {
    for (const auto& [b, child] : children[static_cast<size_t>(order[i])]) {
      new_id[static_cast<size_t>(child)] = static_cast<int32_t>(order.size());
      order.push_back(child);
    }
  }
  trie->nodes.resize(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const auto old = static_cast<size_t>(order[i]);
    Node& n = trie->nodes[i];
    n.first_edge = static_cast<int32_t>(trie->edge_byte.size());
    n.num_edges = static_cast<int32_t>(children[old].size());
    for (const auto& [b, child] : children[old]) {
      trie->edge_byte.push_back(b);
      trie->edge_child.push_back(new_id[static_cast<size_t>(child)]);
    }
    n.first_token = static_cast<int32_t>(trie->tokens.size());
    n.num_tokens = static_cast<int32_t>(ending[old].size());
    trie->tokens.insert(trie->tokens.end(), ending[old].begin(), ending[old].end());
  }
  return trie;
}

GrammarIndex::GrammarIndex(std::shared_ptr<const Rules> rules,
                           std::shared_ptr<const TokenTrie> trie)
    : rules_(std::move(rules)), trie_(std::move(trie)) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int32_t> start;
  bool accepting = false;
  for (int32_t alt : rules_->alternatives[static_cast<size_t>(rules_->root)]) {
    Expand(alt, -1, &start, &accepting);
  }
  initial_ = Intern(std::move(start), accepting);
}

int32_t GrammarIndex::Node(int32_t pos, int32_t parent) {
  auto [it, inserted] = node_ids_.try_emplace({pos, parent}, static_cast<int32_t>(nodes_.size()));
  if (inserted) {
    if (nodes_.size() >= kMaxStackNodes && status_.ok()) {
      status_ = absl::ResourceExhaustedError(
          absl::StrCat("grammar: the parser passed ", kMaxStackNodes,
                       " stack nodes (the grammar is too ambiguous or nests too deep)"));
    }
    nodes_.emplace_back(pos, parent);
  }
  return it->second;
}

void GrammarIndex::Expand(int32_t pos, int32_t parent, std::vector<int32_t>* out, bool* accepting) {
  if (!status_.ok()) return;
  const Rules::Element& e = rules_->elements[static_cast<size_t>(pos)];
  switch (e.kind) {
    case Rules::Element::Kind::kBytes:
      out->push_back(Node(pos, parent));
      return;
    case Rules::Element::Kind::kEnd:
      if (parent < 0) {
        *accepting = true;
      } else {
        const auto [ppos, pparent] = nodes_[static_cast<size_t>(parent)];
        Expand(ppos, pparent, out, accepting);
      }
      return;
    case Rules::Element::Kind::kRule: {
      // The place to return to; a reference that ends its alternative returns straight to
      // the parent (a tail call), so right-recursive repetitions keep a flat stack.
      int32_t ret = parent;
      if (rules_->elements[static_cast<size_t>(pos) + 1].kind != Rules::Element::Kind::kEnd) {
        ret = Node(pos + 1, parent);
      }
      for (int32_t alt : rules_->alternatives[static_cast<size_t>(e.id)]) {
        Expand(alt, ret, out, accepting);
      }
      return;
    }
  }
}

int32_t GrammarIndex::Intern(std::vector<int32_t> stacks, bool accepting) {
  if (!status_.ok()) return kDead;
  std::sort(stacks.begin(), stacks.end());
  stacks.erase(std::unique(stacks.begin(), stacks.end()), stacks.end());
  if (stacks.empty() && !accepting) return kDead;
  std::vector<int32_t> key = stacks;
  if (accepting) key.push_back(-1);
  auto it = state_ids_.find(key);
  if (it != state_ids_.end()) return it->second;
  if (states_.size() >= kMaxStates) {
    status_ = absl::ResourceExhaustedError(
        absl::StrCat("grammar: the parser passed ", kMaxStates,
                     " states (the grammar is too ambiguous or nests too deep)"));
    return kDead;
  }
  State s;
  s.stacks = std::move(stacks);
  s.accepting = accepting;
  s.next = std::make_unique<int32_t[]>(256);
  std::fill_n(s.next.get(), 256, kUnknown);
  states_.push_back(std::move(s));
  const auto id = static_cast<int32_t>(states_.size() - 1);
  state_ids_.emplace(std::move(key), id);
  return id;
}

int32_t GrammarIndex::Step(int32_t state, uint8_t byte) {
  const int32_t known = states_[static_cast<size_t>(state)].next[byte];
  if (known != kUnknown) return known;
  std::vector<int32_t> out;
  bool accepting = false;
  for (int32_t n : states_[static_cast<size_t>(state)].stacks) {
    const auto [pos, parent] = nodes_[static_cast<size_t>(n)];
    const Rules::Element& e = rules_->elements[static_cast<size_t>(pos)];
    if (rules_->sets[static_cast<size_t>(e.id)].Has(byte)) {
      Expand(pos + 1, parent, &out, &accepting);
    }
  }
  const int32_t next = Intern(std::move(out), accepting);
  states_[static_cast<size_t>(state)].next[byte] = next;
  return next;
}

int32_t GrammarIndex::Advance(int32_t state, TokenId token) {
  std::lock_guard<std::mutex> lock(mu_);
  if (state == kDead || token < 0 || token >= trie_->vocab_size) return kDead;
  if (trie_->is_end[static_cast<size_t>(token)]) {
    return states_[static_cast<size_t>(state)].accepting ? state : kDead;
  }
  const std::string& bytes = trie_->token_bytes[static_cast<size_t>(token)];
  if (bytes.empty()) return kDead;
  for (char c : bytes) {
    state = Step(state, static_cast<uint8_t>(c));
    if (state == kDead) return kDead;
  }
  return state;
}

bool GrammarIndex::accepting(int32_t state) {
  std::lock_guard<std::mutex> lock(mu_);
  return states_[static_cast<size_t>(state)].accepting;
}

bool GrammarIndex::finished(int32_t state) {
  std::lock_guard<std::mutex> lock(mu_);
  const State& s = states_[static_cast<size_t>(state)];
  return s.accepting && s.stacks.empty();
}

absl::Status GrammarIndex::status() {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

void GrammarIndex::Mask(int32_t state, std::vector<uint64_t>* mask) {
  std::lock_guard<std::mutex> lock(mu_);
  if (states_[static_cast<size_t>(state)].mask.empty()) {
    if (cached_masks_ >= kMaxCachedMasks) {
      for (State& s : states_) std::vector<uint64_t>().swap(s.mask);
      cached_masks_ = 0;
    }
    // Computed aside: the walk interns new states, which moves states_.
    std::vector<uint64_t> computed;
    ComputeMask(state, &computed);
    states_[static_cast<size_t>(state)].mask = std::move(computed);
    ++cached_masks_;
  }
  *mask = states_[static_cast<size_t>(state)].mask;
}

void GrammarIndex::ComputeMask(int32_t state, std::vector<uint64_t>* mask) {
  const TokenTrie& t = *trie_;
  std::vector<uint64_t> bits((static_cast<size_t>(t.vocab_size) + 63) / 64, 0);
  auto allow = [&](TokenId id) {
    bits[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (static_cast<uint32_t>(id) & 63);
  };
  if (states_[static_cast<size_t>(state)].accepting) {
    for (TokenId id : t.end_tokens) allow(id);
  }
  std::vector<std::pair<int32_t, int32_t>> todo{{0, state}};  // (trie node, grammar state)
  while (!todo.empty()) {
    const auto [node, st] = todo.back();
    todo.pop_back();
    const TokenTrie::Node& tn = t.nodes[static_cast<size_t>(node)];
    for (int32_t e = tn.first_edge; e < tn.first_edge + tn.num_edges; ++e) {
      const int32_t next = Step(st, t.edge_byte[static_cast<size_t>(e)]);
      if (next == kDead) continue;
      const int32_t child = t.edge_child[static_cast<size_t>(e)];
      const TokenTrie::Node& cn = t.nodes[static_cast<size_t>(child)];
      for (int32_t k = cn.first_token; k < cn.first_token + cn.num_tokens; ++k) {
        allow(t.tokens[static_cast<size_t>(k)]);
      }
      if (cn.num_edges > 0) todo.emplace_back(child, next);
    }
  }
  *mask = std::move(bits);
}

absl::Status GrammarMatcher::ApplyMask(std::span<float> logits) {
  index_->Mask(state_, &mask_);
  if (absl::Status s = index_->status(); !s.ok()) return s;
  bool any = false;
  for (uint64_t w : mask_) any = any || w != 0;
  if (!any) {
    return absl::FailedPreconditionError(
        "grammar: no token of this model's vocabulary can continue the output here");
  }
  const float kNegInf = -std::numeric_limits<float>::infinity();
  const size_t vocab = std::min(logits.size(), static_cast<size_t>(index_->trie().vocab_size));
  for (size_t w = 0; w * 64 < vocab; ++w) {
    const uint64_t bits = mask_[w];
    if (bits == ~uint64_t{0}) continue;
    const size_t end = std::min(vocab, w * 64 + 64);
    for (size_t i = w * 64; i < end; ++i) {
      if (((bits >> (i & 63)) & 1) == 0) logits[i] = kNegInf;
    }
  }
  for (size_t i = vocab; i < logits.size(); ++i) logits[i] = kNegInf;
  return absl::OkStatus();
}

absl::Status GrammarMatcher::Accept(TokenId token) {
  const int32_t next = index_->Advance(state_, token);
  if (next == GrammarIndex::kDead) {
    if (absl::Status s = index_->status(); !s.ok()) return s;
    return absl::InvalidArgumentError(
        absl::StrCat("grammar: token ", token, " does not continue the output"));
  }
  if (index_->trie().is_end[static_cast<size_t>(token)]) {
    finished_ = true;
    return absl::OkStatus();
  }
  state_ = next;
  finished_ = index_->finished(next);
  return absl::OkStatus();
}

}  // namespace infer::grammar
