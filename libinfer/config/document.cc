#include "libinfer/config/document.h"

#include <yaml-cpp/yaml.h>

#include <exception>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libinfer/util/status_macros.h"

namespace infer::config {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxYamlNodes = 100000;
constexpr int kMaxYamlDepth = 32;

class YamlConverter {
 public:
  absl::StatusOr<Json> Convert(const YAML::Node& node, int depth) {
    if (++nodes_ > kMaxYamlNodes || depth > kMaxYamlDepth) {
      return absl::InvalidArgumentError("the YAML document is too large or too deeply nested");
    }
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return Json(nullptr);
      case YAML::NodeType::Scalar:
        return Json(node.Scalar());
      case YAML::NodeType::Sequence: {
        Json out = Json::array();
        for (const YAML::Node& item : node) {
          INFER_ASSIGN_OR_RETURN(Json v, Convert(item, depth + 1));
          out.push_back(std::move(v));
        }
        return out;
      }
      case YAML::NodeType::Map: {
        Json out = Json::object();
        for (const auto& pair : node) {
          if (!pair.first.IsScalar()) {
            return absl::InvalidArgumentError("a YAML mapping key is not a plain string");
          }
          const std::string key = pair.first.Scalar();
          if (out.contains(key)) {
            return absl::InvalidArgumentError(
                absl::StrCat("duplicate YAML key ", QuoteForMessage(key)));
          }
          INFER_ASSIGN_OR_RETURN(Json v, Convert(pair.second, depth + 1));
          out[key] = std::move(v);
        }
        return out;
      }
    }
    return Json(nullptr);
  }

 private:
  size_t nodes_ = 0;
};

}  // namespace

std::string QuoteForMessage(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, 40)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (s.size() > 40) out += "...";
  return out + "'";
}

absl::StatusOr<Json> ParseStrictJsonObject(std::string_view text, int max_depth) {
  // The parser keeps the last of two equal keys; track the keys of every open object instead.
  std::vector<std::set<std::string>> open_objects;
  bool duplicate = false;
  bool too_deep = false;
  const Json::parser_callback_t callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth > max_depth) too_deep = true;
    switch (event) {
      case Json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case Json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second) {
          duplicate = true;
        }
        break;
      case Json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      default:
        break;
    }
    return true;
  };
  Json parsed;
  try {
    parsed = Json::parse(text.data(), text.data() + text.size(), callback,
                         /*allow_exceptions=*/false);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON: ", e.what()));
  }
  if (too_deep) {
    return absl::InvalidArgumentError(
        absl::StrFormat("JSON nested deeper than %d levels", max_depth));
  }
  if (parsed.is_discarded()) return absl::InvalidArgumentError("invalid JSON");
  if (duplicate) return absl::InvalidArgumentError("JSON object with a duplicate key");
  if (!parsed.is_object()) return absl::InvalidArgumentError("JSON is not an object");
  return parsed;
}

absl::StatusOr<Json> ParseYamlDocument(std::string_view text) {
  try {
    const YAML::Node node = YAML::Load(std::string(text));
    YamlConverter converter;
    return converter.Convert(node, 0);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.what()));
  }
}

absl::StatusOr<Json> ParseConfigDocument(std::string_view path, std::string_view contents) {
  const bool is_json = path.size() >= 5 && absl::AsciiStrToLower(absl::string_view(
                                               path.substr(path.size() - 5).data(), 5)) == ".json";
  absl::StatusOr<Json> doc =
      is_json ? ParseStrictJsonObject(contents) : ParseYamlDocument(contents);
  if (!doc.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(path), ": ", doc.status().message()));
  }
  if (!doc->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(path), ": the document is not a mapping"));
  }
  return doc;
}

}  // namespace infer::config
