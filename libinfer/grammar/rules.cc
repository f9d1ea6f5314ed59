#include "libinfer/grammar/rules.h"

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace infer::grammar {

int32_t Builder::Declare(std::string_view name) {
  rules_.push_back(RuleDef{std::string(name), {}});
  return static_cast<int32_t>(rules_.size() - 1);
}

void Builder::AddAlternative(int32_t rule, Sequence sequence) {
  rules_[static_cast<size_t>(rule)].alternatives.push_back(std::move(sequence));
}

int32_t Builder::Rule(std::string_view name, std::vector<Sequence> alternatives) {
  const int32_t rule = Declare(name);
  for (Sequence& s : alternatives) AddAlternative(rule, std::move(s));
  return rule;
}

Item Builder::Bytes(const ByteSet& set) {
  for (size_t i = 0; i < sets_.size(); ++i) {
    if (sets_[i] == set) return Item{Item::Kind::kBytes, static_cast<int32_t>(i)};
  }
  sets_.push_back(set);
  return Item{Item::Kind::kBytes, static_cast<int32_t>(sets_.size() - 1)};
}

Item Builder::Byte(uint8_t b) {
  ByteSet set;
  set.Add(b);
  return Bytes(set);
}

Sequence Builder::Literal(std::string_view text) {
  Sequence s;
  s.reserve(text.size());
  for (char c : text) s.push_back(Byte(static_cast<uint8_t>(c)));
  return s;
}

int32_t Builder::Repeat(std::string_view name, const Item& item, int64_t min, int64_t max) {
  const int32_t rule = Declare(name);
  Sequence head(static_cast<size_t>(min), item);
  if (max < 0) {
    // tail ::= item tail | empty
    const int32_t tail = Declare(absl::StrCat(std::string(name), "*"));
    AddAlternative(tail, {item, Ref(tail)});
    AddAlternative(tail, {});
    head.push_back(Ref(tail));
  } else if (max > min) {
    // Nested optionals, innermost first: opt_k ::= item opt_{k+1} | empty.
    int32_t next = -1;
    for (int64_t k = max - min; k > 0; --k) {
      const int32_t opt = Declare(absl::StrCat(std::string(name), "?", k));
      Sequence s{item};
      if (next >= 0) s.push_back(Ref(next));
      AddAlternative(opt, std::move(s));
      AddAlternative(opt, {});
      next = opt;
    }
    head.push_back(Ref(next));
  }
  AddAlternative(rule, std::move(head));
  return rule;
}

int32_t Builder::Optional(std::string_view name, const Item& item) {
  return Rule(name, {{item}, {}});
}

namespace {

// Fixpoint over the rules: a rule has the property when one alternative has it for every item,
// where `item_ok(item, have)` judges one item given the rules known so far.
template <typename ItemOk>
std::vector<bool> Fixpoint(const std::vector<std::vector<Sequence>>& alts, ItemOk item_ok) {
  std::vector<bool> have(alts.size(), false);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < alts.size(); ++r) {
      if (have[r]) continue;
      for (const Sequence& s : alts[r]) {
        bool all = true;
        for (const Item& it : s) all = all && item_ok(it, have);
        if (all) {
          have[r] = true;
          changed = true;
          break;
        }
      }
    }
  }
  return have;
}

}  // namespace

absl::StatusOr<Rules> Builder::Build(int32_t root) const {
  const size_t n = rules_.size();
  if (root < 0 || static_cast<size_t>(root) >= n) {
    return absl::InvalidArgumentError("grammar: no root rule");
  }
  std::vector<std::vector<Sequence>> alts(n);
  for (size_t r = 0; r < n; ++r) {
    if (rules_[r].alternatives.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("grammar: rule '", rules_[r].name, "' is used but never defined"));
    }
    alts[r] = rules_[r].alternatives;
  }
  const std::vector<bool> nullable =
      Fixpoint(alts, [](const Item& it, const std::vector<bool>& have) {
        return it.kind == Item::Kind::kRule && have[static_cast<size_t>(it.id)];
      });
  const std::vector<bool> finite =
      Fixpoint(alts, [&](const Item& it, const std::vector<bool>& have) {
        return it.kind == Item::Kind::kRule ? have[static_cast<size_t>(it.id)]
                                            : !sets_[static_cast<size_t>(it.id)].Empty();
      });
  for (size_t r = 0; r < n; ++r) {
    if (!finite[r]) {
      return absl::InvalidArgumentError(
          absl::StrCat("grammar: rule '", rules_[r].name, "' can never end"));
    }
  }
  // Left recursion: the rules reachable at the left edge (after nullable items only) must not
  // include the rule itself. Depth-first search with colours over the left-edge graph.
  std::vector<std::vector<int32_t>> left(n);
  for (size_t r = 0; r < n; ++r) {
    for (const Sequence& s : alts[r]) {
      for (const Item& it : s) {
        if (it.kind != Item::Kind::kRule) break;
        left[r].push_back(it.id);
        if (!nullable[static_cast<size_t>(it.id)]) break;
      }
    }
  }
  std::vector<int8_t> colour(n, 0);  // 0 new, 1 on the path, 2 done
  for (size_t start = 0; start < n; ++start) {
    if (colour[start] != 0) continue;
    std::vector<std::pair<int32_t, size_t>> path{{static_cast<int32_t>(start), 0}};
    colour[start] = 1;
    while (!path.empty()) {
      auto& [r, next] = path.back();
      if (next == left[static_cast<size_t>(r)].size()) {
        colour[static_cast<size_t>(r)] = 2;
        path.pop_back();
        continue;
      }
      const int32_t s = left[static_cast<size_t>(r)][next++];
      if (colour[static_cast<size_t>(s)] == 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "grammar: rule '", rules_[static_cast<size_t>(s)].name,
            "' can repeat without reading input (left recursion, or a repetition of something "
            "that can be empty)"));
      }
      if (colour[static_cast<size_t>(s)] == 0) {
        colour[static_cast<size_t>(s)] = 1;
        path.emplace_back(s, 0);
      }
    }
  }

  Rules out;
  out.sets = sets_;
  out.root = root;
  out.alternatives.resize(n);
  out.names.reserve(n);
  for (size_t r = 0; r < n; ++r) {
    out.names.push_back(rules_[r].name);
    for (const Sequence& s : alts[r]) {
      out.alternatives[r].push_back(static_cast<int32_t>(out.elements.size()));
      for (const Item& it : s) {
        out.elements.push_back({it.kind == Item::Kind::kRule ? Rules::Element::Kind::kRule
                                                             : Rules::Element::Kind::kBytes,
                                it.id});
      }
      out.elements.push_back({Rules::Element::Kind::kEnd, 0});
    }
  }
  return out;
}

}  // namespace infer::grammar
