// The grammar engine against independent references: integer ranges against arithmetic, regexes
// against std::regex (ECMAScript) on enumerated strings, token masks against a brute-force walk
// of every token, and the schema compiler's refusals.
#include <cstdlib>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "infer/grammar.h"
#include "libinfer/grammar/compilers.h"
#include "libinfer/grammar/grammar_impl.h"
#include "libinfer/grammar/matcher.h"

namespace infer::grammar {
namespace {

using ::testing::HasSubstr;

// A vocabulary given as strings; id 0 is the end-of-generation token, id 1 a control token.
class ListTokenizer : public Tokenizer {
 public:
  explicit ListTokenizer(std::vector<std::string> pieces) : pieces_(std::move(pieces)) {
    pieces_.insert(pieces_.begin(), {"</s>", "<ctl>"});
  }
  absl::StatusOr<std::vector<TokenId>> Encode(std::string_view,
                                              const EncodeOptions&) const override {
    return absl::UnimplementedError("test tokenizer");
  }
  absl::StatusOr<std::string> Decode(std::span<const TokenId> ids, bool) const override {
    std::string out;
    for (TokenId id : ids) out += TokenBytes(id);
    return out;
  }
  std::string TokenBytes(TokenId id) const override {
    return id < 2 ? "" : pieces_[static_cast<size_t>(id)];
  }
  std::string_view TokenText(TokenId id) const override { return pieces_[static_cast<size_t>(id)]; }
  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  TokenId bos_id() const override { return -1; }
  TokenId eos_id() const override { return 0; }
  bool IsEndOfGeneration(TokenId id) const override { return id == 0; }
  bool IsSpecial(TokenId id) const override { return id < 2; }

 private:
  std::vector<std::string> pieces_;
};

// Every single byte as a token: the index then recognises byte strings.
std::shared_ptr<const TokenTrie> ByteTrie() {
  static const auto* trie = [] {
    std::vector<std::string> pieces;
    for (int b = 0; b < 256; ++b) pieces.emplace_back(1, static_cast<char>(b));
    return new std::shared_ptr<const TokenTrie>(TokenTrie::Build(ListTokenizer(pieces)));
  }();
  return *trie;
}

bool Matches(GrammarIndex& index, std::string_view text) {
  int32_t state = index.initial();
  for (char c : text) {
    state = index.Advance(state, static_cast<TokenId>(static_cast<uint8_t>(c)) + 2);
    if (state == GrammarIndex::kDead) return false;
  }
  return index.accepting(state);
}

GrammarIndex IndexOf(absl::StatusOr<Rules> rules) {
  EXPECT_TRUE(rules.ok()) << rules.status();
  return GrammarIndex(std::make_shared<const Rules>(*std::move(rules)), ByteTrie());
}

TEST(IntegerRangeTest, MatchesExactlyTheIntegersInTheRange) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int64_t> pick(-1200, 1200);
  for (int round = 0; round < 60; ++round) {
    int64_t lo = pick(rng);
    int64_t hi = pick(rng);
    if (lo > hi) std::swap(lo, hi);
    const bool has_lo = round % 4 != 1;
    const bool has_hi = round % 4 != 2;
    const std::string regex = IntegerRangeRegex(has_lo ? &lo : nullptr, has_hi ? &hi : nullptr);
    GrammarIndex index = IndexOf(CompileRegex(regex));
    for (int64_t v = -1500; v <= 1500; ++v) {
      const bool inside = (!has_lo || v >= lo) && (!has_hi || v <= hi);
      ASSERT_EQ(Matches(index, std::to_string(v)), inside)
          << v << " in [" << (has_lo ? std::to_string(lo) : "-inf") << ", "
          << (has_hi ? std::to_string(hi) : "inf") << "] via " << regex;
    }
    EXPECT_FALSE(Matches(index, "-0"));
    EXPECT_FALSE(Matches(index, "007"));
  }
}

// Every string over `alphabet` up to `len` characters.
std::vector<std::string> Strings(std::string_view alphabet, size_t len) {
  std::vector<std::string> out{""};
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].size() == len) continue;
    for (char c : alphabet) out.push_back(out[i] + c);
  }
  return out;
}

TEST(RegexTest, AgreesWithStdRegexOnEveryShortString) {
  const std::vector<std::string> patterns = {
      "a*b",          "(ab|a)*c?",  "[a-c]{2,3}",   "a{2}|b{1,}",   "[^a]b*",     "(a|b)(c|)",
      "\\d+\\.?\\d*", "a?b?c?",     "(?:ab){0,2}c", "[abc-]+",      "[\\w]{1,2}", ".c",
      "a|b|cc",       "(a(b(c)))?", "[a\\-c]b",     "0|[1-9][0-9]*"};
  const std::vector<std::string> texts = Strings("abc-.019", 4);
  for (const std::string& p : patterns) {
    GrammarIndex index = IndexOf(CompileRegex(p));
    const std::regex reference(p, std::regex::ECMAScript);
    for (const std::string& t : texts) {
      ASSERT_EQ(Matches(index, t), std::regex_match(t, reference)) << p << " on '" << t << "'";
    }
  }
}

TEST(RegexTest, AnchorsAndSearchMode) {
  Builder b;
  const int32_t root = *AddRegex(b, "ab", TextMode::kRaw, /*search=*/true);
  GrammarIndex search = IndexOf(b.Build(root));
  EXPECT_TRUE(Matches(search, "xxabyy"));
  EXPECT_FALSE(Matches(search, "xxayy"));
  Builder b2;
  const int32_t anchored = *AddRegex(b2, "^ab$", TextMode::kRaw, /*search=*/true);
  GrammarIndex full = IndexOf(b2.Build(anchored));
  EXPECT_TRUE(Matches(full, "ab"));
  EXPECT_FALSE(Matches(full, "xab"));
}

TEST(RegexTest, UnicodeClassesAreWholeUtf8Characters) {
  GrammarIndex index = IndexOf(CompileRegex("[α-ω]+|[^a-z]"));
  EXPECT_TRUE(Matches(index, "αβγ"));
  EXPECT_TRUE(Matches(index, "€"));
  EXPECT_TRUE(Matches(index, "😀"));
  EXPECT_FALSE(Matches(index, "a"));
  EXPECT_FALSE(Matches(index, "\xce"));          // half of α
  EXPECT_FALSE(Matches(index, "\xed\xa0\x80"));  // a surrogate, not UTF-8
}

TEST(RegexTest, RefusesWhatItCannotHonourByName) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"(a)\\1", "backreference"},
      {"a(?=b)", "lookaround"},
      {"\\bword", "word boundar"},
      {"a^b", "anchors"},
      {"(ab", "')'"},
      {"ab)", "unmatched"},
      {"[b-a]", "out of order"},
      {"a{3,1}", "m < n"},
      {"*a", "nothing to repeat"},
      {"(a*)*", "can repeat without reading input"},
      {"a{99999}", "repetition count"}};
  for (const auto& [pattern, words] : bad) {
    absl::StatusOr<Rules> r = CompileRegex(pattern);
    ASSERT_FALSE(r.ok()) << pattern;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(words)) << pattern;
  }
}

TEST(JsonStringModeTest, QuotesAndBackslashesAreWrittenEscaped) {
  Builder b;
  const int32_t root = *AddRegex(b, "a\"b[\\\\x]", TextMode::kJsonString, false);
  GrammarIndex index = IndexOf(b.Build(root));
  EXPECT_TRUE(Matches(index, "a\\\"b\\\\"));
  EXPECT_TRUE(Matches(index, "a\\\"bx"));
  EXPECT_FALSE(Matches(index, "a\"bx"));
}

TEST(JsonSchemaTest, ObjectsFollowTheSchemaOrderWithOptionalMembers) {
  GrammarIndex index = IndexOf(CompileJsonSchema(R"({
      "type": "object",
      "properties": {"a": {"type": "integer"}, "b": {"type": "string"}, "c": {"type": "boolean"}},
      "required": ["a", "c"]})"));
  EXPECT_TRUE(Matches(index, R"({"a": 1, "b": "x", "c": true})"));
  EXPECT_TRUE(Matches(index, R"({"a": -20, "c": false})"));
  EXPECT_FALSE(Matches(index, R"({"a": 1})"));
  EXPECT_FALSE(Matches(index, R"({"c": true, "a": 1})"));
  EXPECT_FALSE(Matches(index, R"({"a": 1,"c": true})"));
  EXPECT_FALSE(Matches(index, R"({"a": 01, "c": true})"));
}

TEST(JsonSchemaTest, AllOptionalMembersAndEmptyObject) {
  GrammarIndex index = IndexOf(CompileJsonSchema(R"({"properties":
      {"x": {"type": "null"}, "y": {"enum": ["p", 2, [1, {"k": null}]]}}})"));
  EXPECT_TRUE(Matches(index, "{}"));
  EXPECT_TRUE(Matches(index, R"({"y": 2})"));
  EXPECT_TRUE(Matches(index, R"({"x": null, "y": [1, {"k": null}]})"));
  EXPECT_FALSE(Matches(index, R"({, "y": 2})"));
  EXPECT_FALSE(Matches(index, R"({"y": 3})"));
}

TEST(JsonSchemaTest, ArraysRefsAndRecursion) {
  GrammarIndex index = IndexOf(CompileJsonSchema(R"({
      "$defs": {"node": {"type": "object", "properties": {
          "v": {"type": "integer", "minimum": 0, "maximum": 9},
          "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}},
        "required": ["v"]}},
      "$ref": "#/$defs/node"})"));
  EXPECT_TRUE(Matches(index, R"({"v": 3})"));
  EXPECT_TRUE(Matches(index, R"({"v": 3, "kids": [{"v": 0}, {"v": 9, "kids": []}]})"));
  EXPECT_FALSE(Matches(index, R"({"v": 10})"));
  EXPECT_FALSE(Matches(index, R"({"v": 3, "kids": [{"v": 0}, {"v": 1}, {"v": 2}]})"));
}

TEST(JsonSchemaTest, NumberBoundsAreHonoured) {
  GrammarIndex index =
      IndexOf(CompileJsonSchema(R"({"type": "number", "exclusiveMinimum": -1.5, "maximum": 2})"));
  for (const char* ok : {"-1", "0", "2", "1.25", "-0.5", "0.001"}) {
    EXPECT_TRUE(Matches(index, ok)) << ok;
  }
  for (const char* bad : {"-2", "3", "2.5", "-1.5", "1e3", "2.0"}) {
    EXPECT_FALSE(Matches(index, bad)) << bad;
  }
}

TEST(JsonSchemaTest, StringsWithLengthsFormatsAndPatterns) {
  GrammarIndex len =
      IndexOf(CompileJsonSchema(R"({"type": "string", "minLength": 2, "maxLength": 3})"));
  EXPECT_FALSE(Matches(len, R"("a")"));
  EXPECT_TRUE(Matches(len, R"("a\n")"));
  EXPECT_TRUE(Matches(len, R"("€€€")"));
  EXPECT_FALSE(Matches(len, R"("abcd")"));
  GrammarIndex date = IndexOf(CompileJsonSchema(R"({"type": "string", "format": "date"})"));
  EXPECT_TRUE(Matches(date, R"("2024-02-28")"));
  EXPECT_FALSE(Matches(date, R"("2024-02-30")"));
  EXPECT_FALSE(Matches(date, R"("2024-13-01")"));
  GrammarIndex pattern =
      IndexOf(CompileJsonSchema(R"({"type": "string", "pattern": "^[A-Z]{2}\\d$"})"));
  EXPECT_TRUE(Matches(pattern, R"("AB7")"));
  EXPECT_FALSE(Matches(pattern, R"("AB77")"));
}

TEST(JsonSchemaTest, RefusesUnsupportedKeywordsByNameAndPlace) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"type": "object", "properties": {"a": {"not": {}}}})", "'not'"},
      {R"({"type": "object", "properties": {"a": {"not": {}}}})", "#/properties/a"},
      {R"({"type": "integer", "multipleOf": 3})", "'multipleOf'"},
      {R"({"type": "array", "uniqueItems": true})", "'uniqueItems'"},
      {R"({"type": "string", "format": "ipv6"})", "'ipv6'"},
      {R"({"$ref": "#/$defs/missing"})", "points nowhere"},
      {R"({"$ref": "http://example.com/s.json"})", "inside the document"},
      {R"({"type": "strin"})", "'strin'"},
      {R"({"allOf": [{}, {}]})", "allOf"},
      {R"({"required": ["a"], "properties": {}})", "'a'"},
      {R"({"type": "string", "pattern": "(a"})", "regex"},
      {R"(not json)", "not valid JSON"},
      {R"({"$defs": {"loop": {"$ref": "#/$defs/loop"}}, "$ref": "#/$defs/loop"})", "never end"},
  };
  for (const auto& [schema, words] : bad) {
    absl::StatusOr<Rules> r = CompileJsonSchema(schema);
    ASSERT_FALSE(r.ok()) << schema;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(words)) << schema;
  }
}

TEST(AnyJsonTest, AcceptsJsonInTheFixedLayout) {
  GrammarIndex index = IndexOf(CompileAnyJson(/*object_only=*/true));
  EXPECT_TRUE(Matches(index, R"({"a": [1, 2.5e-3, "x\u00e9", {"b": null}], "c": true})"));
  EXPECT_TRUE(Matches(index, "{}"));
  EXPECT_FALSE(Matches(index, "[1]"));
  EXPECT_FALSE(Matches(index, R"({"a":1})"));
}

TEST(ToolCallsTest, RequiredAutoAndParallel) {
  const std::vector<ToolSchema> tools = {
      {"get_weather", R"({"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]})"},
      {"now", ""}};
  const std::string weather =
      "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Paris\"}}\n</tool_call>";
  const std::string now = "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>";
  GrammarIndex required = IndexOf(CompileToolCalls(tools, ToolCallMode::kRequired, true));
  EXPECT_TRUE(Matches(required, weather));
  EXPECT_TRUE(Matches(required, weather + "\n" + now));
  EXPECT_FALSE(Matches(required, "Sure. " + weather));
  EXPECT_FALSE(
      Matches(required, "<tool_call>\n{\"name\": \"other\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(Matches(
      required, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>"));
  GrammarIndex single = IndexOf(CompileToolCalls(tools, ToolCallMode::kRequired, false));
  EXPECT_TRUE(Matches(single, now));
  EXPECT_FALSE(Matches(single, now + "\n" + now));
  GrammarIndex automatic = IndexOf(CompileToolCalls(tools, ToolCallMode::kAuto, true));
  EXPECT_TRUE(Matches(automatic, "Just text, <tool_ or <tool_cal without a call."));
  EXPECT_TRUE(Matches(automatic, ""));
  EXPECT_TRUE(Matches(automatic, "Let me check. <<" + weather));
  EXPECT_TRUE(Matches(automatic, weather + "\n" + now));
  EXPECT_FALSE(Matches(automatic, "text <tool_call> and more text"));
  EXPECT_FALSE(Matches(automatic, weather + " trailing text"));
  EXPECT_FALSE(CompileToolCalls({}, ToolCallMode::kAuto, true).ok());
  const std::vector<ToolSchema> bad = {{"f", R"({"type": "object", "not": {}})"}};
  absl::StatusOr<Rules> refused = CompileToolCalls(bad, ToolCallMode::kRequired, true);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("'f'"));
}

// The mask from the trie walk equals trying every token's bytes from the state.
TEST(MaskTest, EqualsBruteForceOverEveryToken) {
  std::vector<std::string> pieces = {"{",        "}",    "{\"", "\"",     "\":",   ": ",   " ",
                                     "a",        "ab",   "abc", "1",      "12",    "-",    ", ",
                                     "\"a",      "true", "tr",  "ue",     "null}", "\xce", "\xb1",
                                     "\xce\xb1", "}\"",  ",",   "\"b\": "};
  ListTokenizer tokenizer(pieces);
  auto trie = TokenTrie::Build(tokenizer);
  auto rules = CompileJsonSchema(R"({"type": "object", "properties": {
      "a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["b"]})");
  ASSERT_TRUE(rules.ok()) << rules.status();
  GrammarIndex index(std::make_shared<const Rules>(*rules), trie);
  // Walk a few random paths, comparing the mask at each state.
  std::mt19937 rng(3);
  for (int walk = 0; walk < 30; ++walk) {
    int32_t state = index.initial();
    for (int step = 0; step < 12; ++step) {
      std::vector<uint64_t> mask;
      index.Mask(state, &mask);
      std::vector<TokenId> allowed;
      for (TokenId id = 0; id < tokenizer.vocab_size(); ++id) {
        const bool bit = ((mask[static_cast<size_t>(id) / 64] >> (id % 64)) & 1) != 0;
        const bool brute = index.Advance(state, id) != GrammarIndex::kDead;
        ASSERT_EQ(bit, brute) << "token '" << tokenizer.TokenText(id) << "' at step " << step;
        if (bit) allowed.push_back(id);
      }
      if (allowed.empty() || index.finished(state)) break;
      const TokenId pick =
          allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(rng)];
      if (pick == 0) break;
      state = index.Advance(state, pick);
    }
  }
}

TEST(MatcherTest, MasksLogitsAndFinishesWhenNothingMayFollow) {
  ListTokenizer tokenizer({"yes", "no", "y", "es", "n", "o", "maybe"});
  auto trie = TokenTrie::Build(tokenizer);
  const std::vector<std::string> choices = {"yes", "no"};
  auto g = Grammar::FromChoices(choices);
  ASSERT_TRUE(g.ok());
  auto matcher = MakeMatcher(**g, trie);
  std::vector<float> logits(static_cast<size_t>(tokenizer.vocab_size()) + 3, 1.0f);
  ASSERT_TRUE(matcher->ApplyMask(logits).ok());
  // Allowed: yes, no, y, n (ids 2, 3, 4, 6); the rest, and the padding rows, are -inf.
  for (size_t i = 0; i < logits.size(); ++i) {
    const bool allowed = i == 2 || i == 3 || i == 4 || i == 6;
    EXPECT_EQ(std::isinf(logits[i]), !allowed) << i;
  }
  EXPECT_TRUE(matcher->Accept(4).ok());  // "y"
  EXPECT_FALSE(matcher->finished());
  EXPECT_FALSE(matcher->Accept(7).ok());  // "n" after "y"
  EXPECT_TRUE(matcher->Accept(5).ok());   // "es"
  EXPECT_TRUE(matcher->finished());
}

}  // namespace
}  // namespace infer::grammar
