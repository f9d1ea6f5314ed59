// Configuration documents: the strict JSON and the YAML that the users file, the model set and
// any later configuration are written in, read into one JSON tree so that one reader serves
// both formats.
//
// Strict means: valid UTF-8 JSON, the top level an object, no object with the same key twice at
// any depth (a plain JSON parser keeps the last of two equal keys silently, which lets two
// readers of one document disagree), nesting bounded. YAML documents are bounded in nodes and
// depth too (aliases expand), keys must be plain strings and unique, and every scalar arrives
// as a JSON string: a reader converts numbers and booleans itself (see the Read* helpers of
// its own), so `2` in YAML and `2` or `"2"` in JSON read alike.
#ifndef INFER_CONFIG_DOCUMENT_H_
#define INFER_CONFIG_DOCUMENT_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace infer::config {

// Deepest nesting a strict JSON object may have by default.
inline constexpr int kDefaultMaxJsonDepth = 32;

// Parses a JSON object strictly (see the file comment). InvalidArgument otherwise.
absl::StatusOr<nlohmann::json> ParseStrictJsonObject(std::string_view text,
                                                     int max_depth = kDefaultMaxJsonDepth);

// Parses a YAML document into JSON with every scalar as a string (null for an empty value).
// InvalidArgument for invalid YAML, a non-string or duplicate mapping key, or a document beyond
// 100,000 nodes or 32 levels.
absl::StatusOr<nlohmann::json> ParseYamlDocument(std::string_view text);

// A configuration file's contents: JSON when `path` ends in .json (case-insensitive), YAML
// otherwise; the top level must be a mapping. Messages are prefixed with `path`.
absl::StatusOr<nlohmann::json> ParseConfigDocument(std::string_view path,
                                                   std::string_view contents);

// `s` quoted for a message: at most 40 bytes, control and non-ASCII bytes as '?'.
std::string QuoteForMessage(std::string_view s);

}  // namespace infer::config

#endif  // INFER_CONFIG_DOCUMENT_H_
