#include "libinfer/serve/structured_output.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libinfer/grammar/cache.h"

namespace infer::serve {
namespace {

using grammar::CachedGrammar;

using nlohmann::json;
using Ordered = nlohmann::ordered_json;

// What one field asks for.
struct Spec {
  std::string field;                     // where it was given, for errors
  std::string kind;                      // json_schema, json_object, regex, choice
  std::vector<const char*> schema_path;  // json_schema: where it lies in the body
  std::string source;                    // regex: the pattern; json_schema given as a string
  std::vector<std::string> choices;      // choice
};

// A JSON Schema given as an object (its path in the body) or as a string of JSON.
std::optional<ApiError> SchemaSpec(const json& v, const std::string& field,
                                   std::vector<const char*> path, Spec* spec) {
  spec->field = field;
  spec->kind = "json_schema";
  if (v.is_string()) {
    spec->source = v.get<std::string>();
  } else if (v.is_object() || v.is_boolean()) {
    spec->schema_path = std::move(path);
  } else {
    return BadRequest(field, absl::StrCat("'", field, "' must be a JSON Schema (an object)"));
  }
  return std::nullopt;
}

std::optional<ApiError> ChoiceSpec(const json& v, const std::string& field, Spec* spec) {
  spec->field = field;
  spec->kind = "choice";
  if (!v.is_array() || v.empty()) {
    return BadRequest(field, absl::StrCat("'", field, "' must be a non-empty list of strings"));
  }
  for (const json& c : v) {
    if (!c.is_string() || c.get<std::string>().empty()) {
      return BadRequest(field, absl::StrCat("'", field, "' must hold non-empty strings only"));
    }
    spec->choices.push_back(c.get<std::string>());
  }
  return std::nullopt;
}

std::optional<ApiError> RegexSpec(const json& v, const std::string& field, Spec* spec) {
  spec->field = field;
  spec->kind = "regex";
  if (!v.is_string()) return BadRequest(field, absl::StrCat("'", field, "' must be a string"));
  spec->source = v.get<std::string>();
  return std::nullopt;
}

std::optional<ApiError> ResponseFormat(const json& rf, std::vector<Spec>* specs) {
  const std::string field = "response_format";
  if (!rf.is_object() || !rf.contains("type") || !rf["type"].is_string()) {
    return BadRequest(field, "'response_format' must be an object with a string 'type'");
  }
  const std::string type = rf["type"].get<std::string>();
  if (type == "text") return std::nullopt;
  Spec spec;
  spec.field = field;
  if (type == "json_object") {
    spec.kind = "json_object";
    specs->push_back(std::move(spec));
    return std::nullopt;
  }
  if (type != "json_schema") {
    return BadRequest("response_format.type", absl::StrCat("'response_format.type' must be text, "
                                                           "json_object or json_schema, got '",
                                                           type, "'"));
  }
  const auto js = rf.find("json_schema");
  if (js == rf.end() || !js->is_object()) {
    return BadRequest("response_format.json_schema",
                      "'response_format' of type json_schema needs a 'json_schema' object");
  }
  if (auto s = js->find("strict"); s != js->end() && !s->is_null() && !s->is_boolean()) {
    return BadRequest("response_format.json_schema.strict", "'strict' must be a boolean");
  }
  const auto schema = js->find("schema");
  if (schema == js->end() || schema->is_null()) {
    return BadRequest("response_format.json_schema.schema",
                      "'response_format.json_schema' needs a 'schema'");
  }
  // The output always follows the schema: strict or not, the grammar is the schema's.
  if (auto e = SchemaSpec(*schema, "response_format.json_schema.schema",
                          {"response_format", "json_schema", "schema"}, &spec)) {
    return e;
  }
  specs->push_back(std::move(spec));
  return std::nullopt;
}

// vLLM's `structured_outputs` object: one of json, regex, choice, json_object.
std::optional<ApiError> StructuredOutputs(const json& so, std::vector<Spec>* specs) {
  if (!so.is_object())
    return BadRequest("structured_outputs", "'structured_outputs' must be an object");
  for (const auto& [key, v] : so.items()) {
    if (v.is_null()) continue;
    const std::string field = absl::StrCat("structured_outputs.", key);
    Spec spec;
    std::optional<ApiError> e;
    if (key == "json") {
      e = SchemaSpec(v, field, {"structured_outputs", "json"}, &spec);
    } else if (key == "regex") {
      e = RegexSpec(v, field, &spec);
    } else if (key == "choice") {
      e = ChoiceSpec(v, field, &spec);
    } else if (key == "json_object") {
      if (!v.is_boolean())
        return BadRequest(field, absl::StrCat("'", field, "' must be a boolean"));
      if (!v.get<bool>()) continue;
      spec.field = field;
      spec.kind = "json_object";
    } else {
      return BadRequest(field,
                        absl::StrCat("'", field,
                                     "' is not supported (json, regex, choice and json_object "
                                     "are)"));
    }
    if (e) return e;
    specs->push_back(std::move(spec));
  }
  return std::nullopt;
}

absl::StatusOr<std::shared_ptr<const Grammar>> Compile(OrderedBody& ordered, const Spec& spec) {
  if (spec.kind == "json_object") {
    static const std::shared_ptr<const Grammar> any = Grammar::AnyJson(/*object_only=*/true);
    return any;
  }
  if (spec.kind == "choice") {
    return CachedGrammar(absl::StrCat("choice\n", json(spec.choices).dump()),
                         [&] { return Grammar::FromChoices(spec.choices); });
  }
  if (spec.kind == "regex") {
    return CachedGrammar(absl::StrCat("regex\n", spec.source),
                         [&] { return Grammar::FromRegex(spec.source); });
  }
  std::string schema = spec.source;
  if (!spec.schema_path.empty()) {
    // In document order: the members of the output follow the schema's order.
    const Ordered* at = ordered.Find(spec.schema_path);
    if (at == nullptr) return absl::InvalidArgumentError("the schema is given twice");
    schema = at->dump();
  }
  return CachedGrammar(absl::StrCat("json_schema\n", schema),
                       [&] { return Grammar::FromJsonSchema(schema); });
}

}  // namespace

std::optional<ApiError> ParseStructuredOutput(OrderedBody& ordered, const json& body,
                                              std::shared_ptr<const Grammar>* grammar) {
  grammar->reset();
  auto present = [&](const char* field) { return PresentField(body, field); };
  std::vector<Spec> specs;
  if (const json* rf = present("response_format")) {
    if (auto e = ResponseFormat(*rf, &specs)) return e;
  }
  if (const json* v = present("guided_json")) {
    Spec spec;
    if (auto e = SchemaSpec(*v, "guided_json", {"guided_json"}, &spec)) return e;
    specs.push_back(std::move(spec));
  }
  if (const json* v = present("guided_regex")) {
    Spec spec;
    if (auto e = RegexSpec(*v, "guided_regex", &spec)) return e;
    specs.push_back(std::move(spec));
  }
  if (const json* v = present("guided_choice")) {
    Spec spec;
    if (auto e = ChoiceSpec(*v, "guided_choice", &spec)) return e;
    specs.push_back(std::move(spec));
  }
  if (const json* v = present("structured_outputs")) {
    if (auto e = StructuredOutputs(*v, &specs)) return e;
  }
  if (specs.empty()) return std::nullopt;
  if (specs.size() > 1) {
    return BadRequest(specs[1].field, absl::StrCat("'", specs[0].field, "' and '", specs[1].field,
                                                   "' both constrain the output; give one"));
  }
  absl::StatusOr<std::shared_ptr<const Grammar>> compiled = Compile(ordered, specs[0]);
  if (!compiled.ok()) {
    return BadRequest(specs[0].field,
                      absl::StrCat("'", specs[0].field, "': ", compiled.status().message()));
  }
  *grammar = *std::move(compiled);
  return std::nullopt;
}

}  // namespace infer::serve
