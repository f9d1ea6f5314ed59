// The front ends of the grammar engine: regular expressions, JSON Schema, free JSON and lists
// of choices, each compiled into rules (rules.h).
#ifndef INFER_GRAMMAR_COMPILERS_H_
#define INFER_GRAMMAR_COMPILERS_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libinfer/grammar/rules.h"

namespace infer::grammar {

// Where the text a regex matches will stand.
enum class TextMode {
  kRaw,         // as is (guided_regex)
  kJsonString,  // inside a JSON string: '"', '\' and control characters are written escaped
};

// Code points as a sorted list of disjoint inclusive ranges.
using CodePointRanges = std::vector<std::pair<uint32_t, uint32_t>>;

// The rule matching one code point of `ranges` as UTF-8 (surrogates left out).
int32_t AddCodePoints(Builder& b, std::string_view name, CodePointRanges ranges);

// Adds a rule matching the strings of `pattern` (ECMAScript syntax: literals, escapes \d \w \s
// \D \W \S \xHH \uHHHH, classes, '.', groups, '|', quantifiers * + ? {n} {n,} {n,m}, lazy or not;
// '^' and '$' only at the two ends). `search`: JSON Schema's unanchored reading, where a side
// without its anchor may have any text. InvalidArgument naming the offset and the construct
// (backreferences, lookaround, word boundaries) for what it does not support.
absl::StatusOr<int32_t> AddRegex(Builder& b, std::string_view pattern, TextMode mode, bool search);

// "(a)|(b)|...": a regex matching any of `parts` (regexes).
std::string RegexAnyOf(const std::vector<std::string>& parts);

// A regex matching the integers in [lo, hi] written in JSON (no leading zeros, no "-0"); an
// absent bound stops at 16 digits. Requires lo <= hi when both are set.
std::string IntegerRangeRegex(const int64_t* lo, const int64_t* hi);

// The rules of a JSON Schema (the document's text). Separators are fixed: ", " between items
// and members, ": " after keys, no other whitespace; object members in the schema's order.
// InvalidArgument naming the keyword and its place for what the engine does not support.
absl::StatusOr<Rules> CompileJsonSchema(std::string_view schema);

// Any JSON value (object_only: any JSON object), in the same layout.
Rules CompileAnyJson(bool object_only);

// Tool calls in the Hermes format (Qwen2.5, Hermes, and the fallback prompt for templates that
// know no tools): each call is
//   <tool_call>\n{"name": "<name>", "arguments": <JSON valid for its parameters>}\n</tool_call>
// and parallel calls follow one another separated by "\n".
inline constexpr std::string_view kToolCallOpen = "<tool_call>";
inline constexpr std::string_view kToolCallClose = "</tool_call>";

struct ToolSchema {
  std::string name;
  std::string parameters;  // a JSON Schema's text; "" for any object
};

enum class ToolCallMode {
  kRequired,  // one call or more, nothing else
  kAuto,      // free text, or free text and then calls once "<tool_call>" is written
};

absl::StatusOr<Rules> CompileToolCalls(std::span<const ToolSchema> tools, ToolCallMode mode,
                                       bool parallel);

// Exactly one of `choices`.
absl::StatusOr<Rules> CompileChoices(std::span<const std::string> choices);

// The rules of a full-match regex.
absl::StatusOr<Rules> CompileRegex(std::string_view pattern);

}  // namespace infer::grammar

#endif  // INFER_GRAMMAR_COMPILERS_H_
