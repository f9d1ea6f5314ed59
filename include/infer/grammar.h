// libinfer — constrained decoding: grammars that decide which tokens may come next.
//
//   auto grammar = infer::Grammar::FromJsonSchema(R"({"type": "object", ...})");
//   if (!grammar.ok()) { /* InvalidArgument naming the unsupported keyword and where */ }
//   infer::SamplingParams params;
//   params.grammar = *grammar;  // the output is a JSON document valid for the schema
//
// A Grammar is immutable and may be shared by any number of requests and threads. Its token
// masks are cached inside it per model vocabulary: reuse one Grammar object for repeated
// requests with the same schema, and the masks are computed once.
#ifndef INFER_GRAMMAR_H_
#define INFER_GRAMMAR_H_

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace infer {

class Grammar {
 public:
  virtual ~Grammar() = default;
  Grammar(const Grammar&) = delete;
  Grammar& operator=(const Grammar&) = delete;

  // A JSON document valid for the JSON Schema `schema` (its text). Supported: type (and lists
  // of types), properties, required, additionalProperties, items, prefixItems, minItems,
  // maxItems, enum, const, anyOf, oneOf (as anyOf: keep its branches disjoint), allOf with one
  // schema, $ref into the document ($defs, definitions, recursion), string minLength /
  // maxLength / pattern / format (date-time, date, time, uuid, email, ipv4, hostname, uri),
  // minimum / maximum / exclusiveMinimum / exclusiveMaximum; annotations (title, description,
  // default, ...) are read past. The layout is fixed: ", " between items and members, ": "
  // after keys, members in the schema's order; members beyond `properties` are never
  // generated. InvalidArgument naming the keyword and its place (a JSON pointer) otherwise.
  static absl::StatusOr<std::shared_ptr<const Grammar>> FromJsonSchema(std::string_view schema);

  // Text that the regular expression `pattern` matches in full (ECMAScript syntax; see
  // libinfer/grammar/compilers.h for the subset). InvalidArgument naming the offset otherwise.
  static absl::StatusOr<std::shared_ptr<const Grammar>> FromRegex(std::string_view pattern);

  // Exactly one of `choices` (non-empty strings).
  static absl::StatusOr<std::shared_ptr<const Grammar>> FromChoices(
      std::span<const std::string> choices);

  // Any JSON value, or any JSON object when `object_only` (OpenAI's `json_object`), in the same
  // layout as FromJsonSchema.
  static std::shared_ptr<const Grammar> AnyJson(bool object_only);

  // How it was made: "json_schema", "regex", "choice" or "json".
  std::string_view kind() const { return kind_; }

 protected:
  explicit Grammar(std::string_view kind) : kind_(kind) {}

 private:
  std::string kind_;
};

}  // namespace infer

#endif  // INFER_GRAMMAR_H_
