// The grammar engine's intermediate form: a context-free grammar over bytes, built by the JSON
// Schema, regex and choice compilers and run by the matcher (matcher.h).
//
// A grammar is a set of rules; each rule is a list of alternatives; each alternative is a
// sequence of items, an item being a set of bytes (one input byte) or a reference to a rule.
// Repetition is written with rules (x* is R ::= x R | empty), so the matcher knows only
// sequences, alternatives and references. Left recursion is refused at Build(): the matcher
// expands rules top-down.
#ifndef INFER_GRAMMAR_RULES_H_
#define INFER_GRAMMAR_RULES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace infer::grammar {

// A set of byte values.
struct ByteSet {
  uint64_t bits[4] = {0, 0, 0, 0};

  bool Has(uint8_t b) const { return ((bits[b >> 6] >> (b & 63)) & 1) != 0; }
  void Add(uint8_t b) { bits[b >> 6] |= uint64_t{1} << (b & 63); }
  void AddRange(uint8_t lo, uint8_t hi) {
    for (int b = lo; b <= hi; ++b) Add(static_cast<uint8_t>(b));
  }
  bool Empty() const { return (bits[0] | bits[1] | bits[2] | bits[3]) == 0; }
  friend bool operator==(const ByteSet&, const ByteSet&) = default;
};

// One element of an alternative.
struct Item {
  enum class Kind : uint8_t { kBytes, kRule };
  Kind kind = Kind::kBytes;
  int32_t id = 0;  // kBytes: index into Rules::sets; kRule: the rule
};
using Sequence = std::vector<Item>;

// The compiled form the matcher runs: alternatives laid end to end in `elements`, each ended by
// an element of kind kEnd, so that a parser position is one index.
struct Rules {
  struct Element {
    enum class Kind : uint8_t { kBytes, kRule, kEnd };
    Kind kind = Kind::kEnd;
    int32_t id = 0;  // kBytes: index into sets; kRule: the rule
  };
  std::vector<Element> elements;
  std::vector<ByteSet> sets;
  std::vector<std::vector<int32_t>>
      alternatives;                // per rule: the index of each alternative's start
  std::vector<std::string> names;  // per rule, for messages
  int32_t root = 0;
};

// Builds Rules. Rules may be declared first and defined later (for recursion, e.g. JSON Schema
// `$ref`). Not thread-safe.
class Builder {
 public:
  // A new rule without alternatives yet; `name` appears in error messages.
  int32_t Declare(std::string_view name);
  // Adds one alternative to `rule` (an empty sequence matches the empty string).
  void AddAlternative(int32_t rule, Sequence sequence);
  // Declare + one AddAlternative per sequence.
  int32_t Rule(std::string_view name, std::vector<Sequence> alternatives);

  Item Bytes(const ByteSet& set);
  Item Byte(uint8_t b);
  static Item Ref(int32_t rule) { return Item{Item::Kind::kRule, rule}; }
  // The bytes of `text`, one item each.
  Sequence Literal(std::string_view text);

  // Repetition of `item`: min..max times (max < 0: unbounded). Returns a rule.
  int32_t Repeat(std::string_view name, const Item& item, int64_t min, int64_t max);
  // item | empty.
  int32_t Optional(std::string_view name, const Item& item);

  // Checks the grammar (every rule defined, no left recursion, every rule able to end) and
  // lays it out for the matcher.
  absl::StatusOr<Rules> Build(int32_t root) const;

  int32_t num_rules() const { return static_cast<int32_t>(rules_.size()); }

 private:
  struct RuleDef {
    std::string name;
    std::vector<Sequence> alternatives;
  };
  std::vector<RuleDef> rules_;
  std::vector<ByteSet> sets_;
};

}  // namespace infer::grammar

#endif  // INFER_GRAMMAR_RULES_H_
