// JSON Schema (and free JSON) compiled into grammar rules.
//
// What is generated is always valid for the schema, and the layout is fixed (", " and ": ",
// members in the schema's order), so a schema compiles into one grammar and every request for it
// shares one mask cache. Where the schema allows more than the grammar produces, the grammar
// produces a subset: object members beyond `properties` are never generated, and numbers with
// bounds have no exponent. A keyword the compiler cannot honour is refused by name.
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libinfer/grammar/compilers.h"
#include "libinfer/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace infer::grammar {
namespace {

using Json = nlohmann::ordered_json;

// Keywords that describe without constraining: read past.
const absl::flat_hash_set<std::string>& Annotations() {
  static const auto* set = new absl::flat_hash_set<std::string>{
      "title",    "description", "default",          "examples",       "$schema",       "$id",
      "$comment", "deprecated",  "readOnly",         "writeOnly",      "discriminator", "$anchor",
      "strict",   "nullable",    "contentMediaType", "contentEncoding"};
  return *set;
}

// Keywords that constrain and are not supported: refused by name.
const absl::flat_hash_set<std::string>& Unsupported() {
  static const auto* set = new absl::flat_hash_set<std::string>{"not",
                                                                "if",
                                                                "then",
                                                                "else",
                                                                "dependentRequired",
                                                                "dependentSchemas",
                                                                "dependencies",
                                                                "patternProperties",
                                                                "propertyNames",
                                                                "unevaluatedProperties",
                                                                "unevaluatedItems",
                                                                "contains",
                                                                "minContains",
                                                                "maxContains",
                                                                "multipleOf",
                                                                "additionalItems",
                                                                "$dynamicRef",
                                                                "$recursiveRef"};
  return *set;
}

// The regular expressions of the string formats the compiler knows.
std::optional<std::string> FormatRegex(std::string_view format) {
  // Days that exist in every year: 01-28 of any month, 29-30 of any month but February, 31 of
  // the seven long months.
  static const std::string kDate =
      "[0-9]{4}-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|"
      "(0[13578]|1[02])-31)";
  static const std::string kTime =
      "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]"
      ")";
  if (format == "date") return kDate;
  if (format == "time") return kTime;
  if (format == "date-time") return absl::StrCat(kDate, "T", kTime);
  if (format == "uuid") {
    return "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
  }
  // Lengths stay within what real addresses and names use, so that an output always ends.
  if (format == "email") {
    return "[a-zA-Z0-9_+-]{1,32}(\\.[a-zA-Z0-9_+-]{1,32}){0,2}@([a-zA-Z0-9-]{1,32}\\.){1,3}"
           "[a-zA-Z]{2,10}";
  }
  if (format == "ipv4") {
    static const std::string kOctet = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
    return absl::StrCat(kOctet, "\\.", kOctet, "\\.", kOctet, "\\.", kOctet);
  }
  if (format == "hostname") {
    return "[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}"
           "[a-zA-Z0-9])?){0,4}";
  }
  if (format == "uri") {
    return "https?://[a-zA-Z0-9-]{1,32}(\\.[a-zA-Z0-9-]{1,32}){0,4}(/[a-zA-Z0-9._~-]{0,32}){0,6}";
  }
  return std::nullopt;
}

// The value as the grammar writes it: ", " and ": " separators.
std::string Dump(const Json& v) {
  if (v.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, x] : v.items()) {
      absl::StrAppend(&out, first ? "" : ", ", Json(k).dump(), ": ", Dump(x));
      first = false;
    }
    return out + "}";
  }
  if (v.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) absl::StrAppend(&out, i ? ", " : "", Dump(v[i]));
    return out + "]";
  }
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Numbers carry at most 16 digits before the point and 16 after: what a double holds, and a
// bound that keeps a sampling model from writing digits forever.
constexpr const char* kIntegerRegex = "-?(0|[1-9][0-9]{0,15})";

class SchemaCompiler {
 public:
  // Adds rules to `b`; $refs resolve in `root`.
  SchemaCompiler(Builder& b, const Json& root) : root_(root), b_(b) {}

  absl::StatusOr<int32_t> Compile(const Json& schema, const std::string& where);

  // Free JSON: a value, or an object.
  int32_t AnyValue() {
    if (value_ >= 0) return value_;
    value_ = b_.Declare("value");
    const int32_t member = b_.Rule(
        "member", {{Builder::Ref(String()), b_.Byte(':'), b_.Byte(' '), Builder::Ref(value_)}});
    object_ = Container("object", '{', '}', Builder::Ref(member), 0, -1);
    const int32_t array = Container("array", '[', ']', Builder::Ref(value_), 0, -1);
    for (int32_t r : {object_, array, String(), Number()})
      b_.AddAlternative(value_, {Builder::Ref(r)});
    for (const char* word : {"true", "false", "null"}) b_.AddAlternative(value_, b_.Literal(word));
    return value_;
  }
  int32_t AnyObject() {
    AnyValue();
    return object_;
  }

 private:
  absl::Status Error(const std::string& where, const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat("json_schema: ", what, " at ", where));
  }

  // open (item (", " item){min-1,max-1})? close, for min/max items (max < 0: unbounded).
  int32_t Container(const std::string& name, char open, char close, const Item& item, int64_t min,
                    int64_t max) {
    const int32_t more = b_.Rule(absl::StrCat(name, " more"), {{b_.Byte(','), b_.Byte(' '), item}});
    const int64_t rest_min = std::max<int64_t>(min - 1, 0);
    const int64_t rest_max = max < 0 ? -1 : max - 1;
    const int32_t rest =
        b_.Repeat(absl::StrCat(name, " items"), Builder::Ref(more), rest_min, rest_max);
    const int32_t r = b_.Declare(name);
    if (max != 0) b_.AddAlternative(r, {b_.Byte(open), item, Builder::Ref(rest), b_.Byte(close)});
    if (min == 0) b_.AddAlternative(r, {b_.Byte(open), b_.Byte(close)});
    return r;
  }

  // One character of a JSON string: a plain character or an escape.
  int32_t StringChar() {
    if (string_char_ >= 0) return string_char_;
    const int32_t plain = AddCodePoints(b_, "char", {{0x20, 0x21}, {0x23, 0x5B}, {0x5D, 0x10FFFF}});
    ByteSet simple;
    for (char c : std::string_view("\"\\/bfnrt")) simple.Add(static_cast<uint8_t>(c));
    ByteSet hex;
    hex.AddRange('0', '9');
    hex.AddRange('a', 'f');
    hex.AddRange('A', 'F');
    const Item h = b_.Bytes(hex);
    string_char_ = b_.Rule("string char", {{Builder::Ref(plain)},
                                           {b_.Byte('\\'), b_.Bytes(simple)},
                                           {b_.Byte('\\'), b_.Byte('u'), h, h, h, h}});
    return string_char_;
  }

  int32_t String() {
    if (string_ >= 0) return string_;
    string_ = StringOfLength(0, -1);
    return string_;
  }

  int32_t StringOfLength(int64_t min, int64_t max) {
    const int32_t body = b_.Repeat("string body", Builder::Ref(StringChar()), min, max);
    return b_.Rule("string", {{b_.Byte('"'), Builder::Ref(body), b_.Byte('"')}});
  }

  int32_t Number() {
    if (number_ >= 0) return number_;
    number_ = *AddRegex(b_, absl::StrCat(kIntegerRegex, "(\\.[0-9]{1,16})?([eE][+-]?[0-9]{1,3})?"),
                        TextMode::kRaw, false);
    return number_;
  }

  absl::StatusOr<int32_t> Literal(const Json& value, const std::string& where) {
    return b_.Rule(absl::StrCat("literal at ", where), {b_.Literal(Dump(value))});
  }

  // A count keyword (minItems, maxLength, ...): an integer in [0, 10000], `fallback` when absent.
  absl::StatusOr<int64_t> Count(const Json& s, const char* key, int64_t fallback,
                                const std::string& where) const {
    if (!s.contains(key)) return fallback;
    if (!s[key].is_number_unsigned() || s[key].get<uint64_t>() > 10000) {
      return Error(where, absl::StrCat("'", key, "' must be an integer in [0, 10000]"));
    }
    return static_cast<int64_t>(s[key].get<uint64_t>());
  }

  absl::StatusOr<int32_t> Ref(const std::string& ref, const std::string& where);
  absl::StatusOr<int32_t> Typed(const Json& s, const std::string& type, const std::string& where);
  absl::StatusOr<int32_t> Object(const Json& s, const std::string& where);
  absl::StatusOr<int32_t> Array(const Json& s, const std::string& where);
  absl::StatusOr<int32_t> StringSchema(const Json& s, const std::string& where);
  absl::StatusOr<int32_t> NumberSchema(const Json& s, bool integer, const std::string& where);

  const Json& root_;
  Builder& b_;
  absl::flat_hash_map<std::string, int32_t> refs_;
  int32_t value_ = -1;
  int32_t object_ = -1;
  int32_t string_char_ = -1;
  int32_t string_ = -1;
  int32_t number_ = -1;
  int depth_ = 0;
};

absl::StatusOr<int32_t> SchemaCompiler::Compile(const Json& s, const std::string& where) {
  if (s.is_boolean()) {
    if (s.get<bool>()) return AnyValue();
    return Error(where, "the schema false (nothing is valid)");
  }
  if (!s.is_object()) return Error(where, "a schema that is not an object or a boolean");
  if (++depth_ > 64) return Error(where, "schemas nested deeper than 64");
  struct Leave {
    int* d;
    ~Leave() { --*d; }
  } leave{&depth_};
  for (const auto& [key, value] : s.items()) {
    if (Unsupported().contains(key)) {
      return Error(where, absl::StrCat("the keyword '", key, "' is not supported"));
    }
  }
  if (s.contains("uniqueItems") && s["uniqueItems"] == true) {
    return Error(where, "the keyword 'uniqueItems' is not supported");
  }
  // Keywords that decide the whole value: one of them, with annotations beside.
  for (const char* k : {"$ref", "const", "enum", "anyOf", "oneOf", "allOf"}) {
    if (!s.contains(k)) continue;
    for (const auto& [key, value] : s.items()) {
      if (key == k || Annotations().contains(key) || key == "$defs" || key == "definitions" ||
          (key == "type" && (std::string_view(k) == "const" || std::string_view(k) == "enum"))) {
        continue;
      }
      return Error(where, absl::StrCat("'", key, "' beside '", k, "' is not supported"));
    }
    const Json& v = s[k];
    const std::string at = absl::StrCat(where, "/", k);
    if (std::string_view(k) == "$ref") {
      if (!v.is_string()) return Error(at, "a $ref that is not a string");
      return Ref(v.get<std::string>(), at);
    }
    if (std::string_view(k) == "const") return Literal(v, at);
    if (!v.is_array() || v.empty()) return Error(at, "a keyword that needs a non-empty array");
    if (std::string_view(k) == "allOf" && v.size() != 1) {
      return Error(at, "'allOf' with more than one schema is not supported");
    }
    const int32_t r = b_.Declare(at);
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string item_at = absl::StrCat(at, "/", i);
      INFER_ASSIGN_OR_RETURN(int32_t one, std::string_view(k) == "enum" ? Literal(v[i], item_at)
                                                                        : Compile(v[i], item_at));
      b_.AddAlternative(r, {Builder::Ref(one)});
    }
    return r;
  }
  if (!s.contains("type")) {
    if (s.contains("properties") || s.contains("additionalProperties") || s.contains("required")) {
      return Typed(s, "object", where);
    }
    if (s.contains("items") || s.contains("prefixItems") || s.contains("minItems") ||
        s.contains("maxItems")) {
      return Typed(s, "array", where);
    }
    if (s.contains("pattern") || s.contains("format") || s.contains("minLength") ||
        s.contains("maxLength")) {
      return Typed(s, "string", where);
    }
    if (s.contains("minimum") || s.contains("maximum") || s.contains("exclusiveMinimum") ||
        s.contains("exclusiveMaximum")) {
      return Typed(s, "number", where);
    }
    return AnyValue();
  }
  const Json& type = s["type"];
  if (type.is_string()) return Typed(s, type.get<std::string>(), where);
  if (!type.is_array() || type.empty())
    return Error(where, "a 'type' that is not a name or a list");
  const int32_t r = b_.Declare(absl::StrCat(where, "/type"));
  for (const Json& t : type) {
    if (!t.is_string()) return Error(where, "a 'type' list with a non-string");
    INFER_ASSIGN_OR_RETURN(int32_t one, Typed(s, t.get<std::string>(), where));
    b_.AddAlternative(r, {Builder::Ref(one)});
  }
  return r;
}

absl::StatusOr<int32_t> SchemaCompiler::Ref(const std::string& ref, const std::string& where) {
  if (auto it = refs_.find(ref); it != refs_.end()) return it->second;
  if (ref.empty() || ref[0] != '#') {
    return Error(where, absl::StrCat("the $ref '", ref, "' (only references inside the document)"));
  }
  const Json* target = nullptr;
  try {
    target = &root_.at(Json::json_pointer(ref.substr(1)));
  } catch (const Json::exception&) {
    return Error(where, absl::StrCat("the $ref '", ref, "' that points nowhere"));
  }
  // Declared before it is compiled, so a recursive schema refers to itself.
  const int32_t r = b_.Declare(ref);
  refs_.emplace(ref, r);
  INFER_ASSIGN_OR_RETURN(int32_t body, Compile(*target, ref));
  b_.AddAlternative(r, {Builder::Ref(body)});
  return r;
}

absl::StatusOr<int32_t> SchemaCompiler::Typed(const Json& s, const std::string& type,
                                              const std::string& where) {
  if (type == "object") return Object(s, where);
  if (type == "array") return Array(s, where);
  if (type == "string") return StringSchema(s, where);
  if (type == "integer") return NumberSchema(s, true, where);
  if (type == "number") return NumberSchema(s, false, where);
  if (type == "boolean") return b_.Rule("boolean", {b_.Literal("true"), b_.Literal("false")});
  if (type == "null") return b_.Rule("null", {b_.Literal("null")});
  return Error(where, absl::StrCat("the unknown type '", type, "'"));
}

absl::StatusOr<int32_t> SchemaCompiler::Object(const Json& s, const std::string& where) {
  const Json empty = Json::object();
  const Json& props = s.contains("properties") ? s["properties"] : empty;
  if (!props.is_object()) return Error(where, "'properties' that is not an object");
  absl::flat_hash_set<std::string> required;
  if (s.contains("required")) {
    if (!s["required"].is_array()) return Error(where, "'required' that is not an array");
    for (const Json& r : s["required"]) {
      if (!r.is_string()) return Error(where, "'required' with a non-string");
      if (!props.contains(r.get<std::string>())) {
        return Error(where, absl::StrCat("the required property '", r.get<std::string>(),
                                         "' that 'properties' does not define"));
      }
      required.insert(r.get<std::string>());
    }
  }
  const bool extra_given = s.contains("additionalProperties");
  const Json extra = extra_given ? s["additionalProperties"] : Json(true);
  if (props.empty()) {
    // A map: keys are free, values follow additionalProperties (any value when absent).
    if (extra.is_boolean() && !extra.get<bool>())
      return b_.Rule("empty object", {b_.Literal("{}")});
    INFER_ASSIGN_OR_RETURN(int32_t value,
                           Compile(extra, absl::StrCat(where, "/additionalProperties")));
    const int32_t member = b_.Rule(
        "member", {{Builder::Ref(String()), b_.Byte(':'), b_.Byte(' '), Builder::Ref(value)}});
    // Keys are not kept apart: a map of two members may repeat a key (JSON readers keep the
    // last), so minProperties above 1 is refused.
    INFER_ASSIGN_OR_RETURN(int64_t min, Count(s, "minProperties", 0, where));
    INFER_ASSIGN_OR_RETURN(int64_t max, Count(s, "maxProperties", -1, where));
    if (min > 1) return Error(where, "'minProperties' above 1 is not supported");
    if (max >= 0 && max < min) return Error(where, "'maxProperties' below 'minProperties'");
    return Container(absl::StrCat(where, " object"), '{', '}', Builder::Ref(member), min, max);
  }
  for (const char* key : {"minProperties", "maxProperties"}) {
    if (s.contains(key)) {
      return Error(where, absl::StrCat("'", key, "' beside 'properties' is not supported"));
    }
  }
  // Members in order; optional ones may be left out. after[k][first]: the members from k on,
  // `first` when none was written yet (no comma before the next).
  std::vector<int32_t> member;
  std::vector<bool> is_required;
  for (const auto& [name, sub] : props.items()) {
    INFER_ASSIGN_OR_RETURN(int32_t value, Compile(sub, absl::StrCat(where, "/properties/", name)));
    Sequence kv = b_.Literal(absl::StrCat(Json(name).dump(), ": "));
    kv.push_back(Builder::Ref(value));
    member.push_back(b_.Rule(absl::StrCat(where, "/properties/", name), {std::move(kv)}));
    is_required.push_back(required.contains(name));
  }
  const size_t n = member.size();
  std::vector<std::array<int32_t, 2>> after(n + 1);
  after[n] = {b_.Rule("end", {{}}), -1};
  after[n][1] = after[n][0];
  for (size_t k = n; k-- > 0;) {
    for (int first = 0; first < 2; ++first) {
      Sequence take;
      if (first == 0) take = b_.Literal(", ");
      take.push_back(Builder::Ref(member[k]));
      take.push_back(Builder::Ref(after[k + 1][0]));
      std::vector<Sequence> alts{std::move(take)};
      if (!is_required[k]) alts.push_back({Builder::Ref(after[k + 1][static_cast<size_t>(first)])});
      after[k][static_cast<size_t>(first)] =
          b_.Rule(absl::StrCat(where, " members"), std::move(alts));
    }
  }
  return b_.Rule(absl::StrCat(where, " object"),
                 {{b_.Byte('{'), Builder::Ref(after[0][1]), b_.Byte('}')}});
}

absl::StatusOr<int32_t> SchemaCompiler::Array(const Json& s, const std::string& where) {
  INFER_ASSIGN_OR_RETURN(int64_t min, Count(s, "minItems", 0, where));
  INFER_ASSIGN_OR_RETURN(int64_t max, Count(s, "maxItems", -1, where));
  if (max >= 0 && max < min) return Error(where, "'maxItems' below 'minItems'");
  if (s.contains("prefixItems")) {
    const Json& prefix = s["prefixItems"];
    if (!prefix.is_array()) return Error(where, "'prefixItems' that is not an array");
    if (s.contains("items") && s["items"] != false) {
      return Error(where, "'items' beside 'prefixItems' is not supported (only items: false)");
    }
    const auto n = static_cast<int64_t>(prefix.size());
    if (min > n || (max >= 0 && max < n)) {
      return Error(where, "'minItems'/'maxItems' that differ from the length of 'prefixItems'");
    }
    Sequence seq{b_.Byte('[')};
    for (size_t i = 0; i < prefix.size(); ++i) {
      INFER_ASSIGN_OR_RETURN(int32_t one,
                             Compile(prefix[i], absl::StrCat(where, "/prefixItems/", i)));
      if (i > 0) {
        seq.push_back(b_.Byte(','));
        seq.push_back(b_.Byte(' '));
      }
      seq.push_back(Builder::Ref(one));
    }
    seq.push_back(b_.Byte(']'));
    return b_.Rule(absl::StrCat(where, " tuple"), {std::move(seq)});
  }
  int32_t item = -1;
  if (s.contains("items")) {
    INFER_ASSIGN_OR_RETURN(item, Compile(s["items"], absl::StrCat(where, "/items")));
  } else {
    item = AnyValue();
  }
  return Container(absl::StrCat(where, " array"), '[', ']', Builder::Ref(item), min, max);
}

absl::StatusOr<int32_t> SchemaCompiler::StringSchema(const Json& s, const std::string& where) {
  INFER_ASSIGN_OR_RETURN(int64_t min, Count(s, "minLength", 0, where));
  INFER_ASSIGN_OR_RETURN(int64_t max, Count(s, "maxLength", -1, where));
  if (max >= 0 && max < min) return Error(where, "'maxLength' below 'minLength'");
  const bool lengths = s.contains("minLength") || s.contains("maxLength");
  std::optional<std::string> pattern;
  bool search = true;
  if (s.contains("format")) {
    if (!s["format"].is_string()) return Error(where, "a 'format' that is not a string");
    pattern = FormatRegex(s["format"].get<std::string>());
    if (!pattern) {
      return Error(where, absl::StrCat("the format '", s["format"].get<std::string>(),
                                       "' is not supported (date-time, date, time, uuid, email, "
                                       "ipv4, hostname and uri are)"));
    }
    search = false;
  }
  if (s.contains("pattern")) {
    if (pattern) return Error(where, "'pattern' beside 'format' is not supported");
    if (!s["pattern"].is_string()) return Error(where, "a 'pattern' that is not a string");
    pattern = s["pattern"].get<std::string>();
  }
  if (!pattern) return lengths ? StringOfLength(min, max) : String();
  if (lengths)
    return Error(where, "'minLength'/'maxLength' beside 'pattern' or 'format' is not supported");
  absl::StatusOr<int32_t> body = AddRegex(b_, *pattern, TextMode::kJsonString, search);
  if (!body.ok()) return Error(where, std::string(body.status().message()));
  return b_.Rule(absl::StrCat(where, " string"),
                 {{b_.Byte('"'), Builder::Ref(*body), b_.Byte('"')}});
}

absl::StatusOr<int32_t> SchemaCompiler::NumberSchema(const Json& s, bool integer,
                                                     const std::string& where) {
  std::optional<double> lo;
  std::optional<double> hi;
  bool lo_open = false;
  bool hi_open = false;
  // The tighter of each pair of bounds; draft 4's boolean exclusiveMinimum/Maximum mark the
  // plain bound as open.
  auto bound = [&](const char* key, bool exclusive, bool lower) -> absl::Status {
    if (!s.contains(key)) return absl::OkStatus();
    std::optional<double>& b = lower ? lo : hi;
    bool& open = lower ? lo_open : hi_open;
    if (s[key].is_boolean()) {
      if (exclusive && s[key].get<bool>()) open = true;
      return absl::OkStatus();
    }
    if (!s[key].is_number()) return Error(where, absl::StrCat("'", key, "' that is not a number"));
    const double v = s[key].get<double>();
    if (!std::isfinite(v)) return Error(where, absl::StrCat("'", key, "' that is not finite"));
    if (!b.has_value() || (lower ? v > *b : v < *b)) {
      b = v;
      open = exclusive;
    } else if (v == *b) {
      open = open || exclusive;
    }
    return absl::OkStatus();
  };
  INFER_RETURN_IF_ERROR(bound("minimum", false, true));
  INFER_RETURN_IF_ERROR(bound("maximum", false, false));
  INFER_RETURN_IF_ERROR(bound("exclusiveMinimum", true, true));
  INFER_RETURN_IF_ERROR(bound("exclusiveMaximum", true, false));
  if (!lo && !hi) {
    if (integer) return *AddRegex(b_, kIntegerRegex, TextMode::kRaw, false);
    return Number();
  }
  constexpr double kLimit = 1e18;
  auto clamp = [&](double v) {
    return static_cast<int64_t>(std::max(-kLimit, std::min(kLimit, v)));
  };
  // The integers inside the bounds.
  std::optional<int64_t> ilo;
  std::optional<int64_t> ihi;
  if (lo) ilo = clamp(lo_open ? std::floor(*lo) + 1 : std::ceil(*lo));
  if (hi) ihi = clamp(hi_open ? std::ceil(*hi) - 1 : std::floor(*hi));
  std::vector<std::string> parts;
  if (!ilo || !ihi || *ilo <= *ihi) {
    parts.push_back(IntegerRangeRegex(ilo ? &*ilo : nullptr, ihi ? &*ihi : nullptr));
  }
  if (!integer) {
    // k.f with f not all zeros lies strictly between k and k + 1: "k.f" for k in
    // [max(0, ceil(lo)), floor(hi) - 1], "-k.f" for k in [max(0, ceil(-hi)), floor(-lo) - 1].
    const std::string fraction = "\\.[0-9]{0,15}[1-9]";
    std::optional<int64_t> plo = clamp(lo ? std::max(0.0, std::ceil(*lo)) : 0.0);
    std::optional<int64_t> phi;
    if (hi) phi = clamp(std::floor(*hi) - 1);
    if (!phi || *phi >= *plo) {
      parts.push_back(
          absl::StrCat("(", IntegerRangeRegex(&*plo, phi ? &*phi : nullptr), ")", fraction));
    }
    std::optional<int64_t> nlo = clamp(hi ? std::max(0.0, std::ceil(-*hi)) : 0.0);
    std::optional<int64_t> nhi;
    if (lo) nhi = clamp(std::floor(-*lo) - 1);
    if (!nhi || *nhi >= *nlo) {
      parts.push_back(
          absl::StrCat("-(", IntegerRangeRegex(&*nlo, nhi ? &*nhi : nullptr), ")", fraction));
    }
  }
  if (parts.empty()) return Error(where, "bounds that no number satisfies");
  return AddRegex(b_, RegexAnyOf(parts), TextMode::kRaw, false);
}

}  // namespace

absl::StatusOr<Rules> CompileJsonSchema(std::string_view text) {
  Json schema = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded()) return absl::InvalidArgumentError("json_schema: not valid JSON");
  Builder b;
  SchemaCompiler compiler(b, schema);
  INFER_ASSIGN_OR_RETURN(int32_t root, compiler.Compile(schema, "#"));
  return b.Build(root);
}

Rules CompileAnyJson(bool object_only) {
  const Json empty = Json::object();
  Builder b;
  SchemaCompiler compiler(b, empty);
  const int32_t root = object_only ? compiler.AnyObject() : compiler.AnyValue();
  return *b.Build(root);
}

namespace {

// Free text that never contains `word`, then (once `word` is written) `after`: a rule per state
// of the Knuth-Morris-Pratt automaton of `word`, each choosing its next state by the byte read.
// Every state may end the text. `word` must have no border (no proper prefix equal to a suffix),
// so that its first occurrence is the one that hands over to `after`.
int32_t TextUntil(Builder& b, std::string_view word, int32_t after) {
  const size_t k = word.size();
  std::vector<int32_t> states(k);
  for (size_t i = 0; i < k; ++i) states[i] = b.Declare(absl::StrCat("text ", i));
  for (size_t i = 0; i < k; ++i) {
    std::vector<ByteSet> to(k + 1);  // bytes by the state they lead to
    for (int c = 0; c < 256; ++c) {
      // Without a border, a mismatch falls back to state 0 (or 1 when the byte starts `word`).
      size_t next = 0;
      if (static_cast<unsigned char>(word[i]) == c) {
        next = i + 1;
      } else if (static_cast<unsigned char>(word[0]) == c) {
        next = 1;
      }
      to[next].Add(static_cast<uint8_t>(c));
    }
    b.AddAlternative(states[i], {});
    for (size_t j = 0; j <= k; ++j) {
      if (to[j].Empty()) continue;
      b.AddAlternative(states[i], {b.Bytes(to[j]), Builder::Ref(j == k ? after : states[j])});
    }
  }
  return states[0];
}

}  // namespace

absl::StatusOr<Rules> CompileToolCalls(std::span<const ToolSchema> tools, ToolCallMode mode,
                                       bool parallel) {
  if (tools.empty()) return absl::InvalidArgumentError("tools: the list is empty");
  Builder b;
  // One call: {"name": "<name>", "arguments": <its parameters>}, for any of the tools.
  const int32_t call = b.Declare("tool call");
  std::vector<Json> roots;
  roots.reserve(tools.size());
  for (const ToolSchema& tool : tools) {
    roots.push_back(tool.parameters.empty()
                        ? Json::object()
                        : Json::parse(tool.parameters, nullptr, /*allow_exceptions=*/false));
    if (roots.back().is_discarded()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tools: the parameters of '", tool.name, "' are not valid JSON"));
    }
    SchemaCompiler compiler(b, roots.back());
    absl::StatusOr<int32_t> args =
        tool.parameters.empty() ? compiler.AnyObject() : compiler.Compile(roots.back(), "#");
    if (!args.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tools: the parameters of '", tool.name, "': ", args.status().message()));
    }
    Sequence s =
        b.Literal(absl::StrCat("{\"name\": ", Json(tool.name).dump(), ", \"arguments\": "));
    s.push_back(Builder::Ref(*args));
    s.push_back(b.Byte('}'));
    b.AddAlternative(call, std::move(s));
  }
  // After the opening tag: the call, the closing tag, and (parallel) more blocks.
  const std::string open(kToolCallOpen);
  const int32_t more = b.Declare("more tool calls");
  Sequence rest = b.Literal("\n");
  rest.push_back(Builder::Ref(call));
  for (const Item& it : b.Literal("\n</tool_call>")) rest.push_back(it);
  rest.push_back(Builder::Ref(more));
  const int32_t after_open = b.Rule("tool call block", {std::move(rest)});
  b.AddAlternative(more, {});
  if (parallel) {
    Sequence again = b.Literal(absl::StrCat("\n", open));
    again.push_back(Builder::Ref(after_open));
    b.AddAlternative(more, std::move(again));
  }
  if (mode == ToolCallMode::kAuto) return b.Build(TextUntil(b, open, after_open));
  Sequence first = b.Literal(open);
  first.push_back(Builder::Ref(after_open));
  return b.Build(b.Rule("tool calls", {std::move(first)}));
}

}  // namespace infer::grammar
