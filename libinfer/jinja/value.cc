#include "libinfer/jinja/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/strings/str_cat.h"
#include "libinfer/util/unicode.h"

namespace infer::jinja {
namespace {

// Python's str.isprintable() for the code points that commonly matter in repr(): controls,
// separators other than ' ', format characters and private use are not printable.
bool IsPyPrintable(uint32_t c) {
  if (c < 0x20 || c == 0x7F) return false;
  if (c >= 0x80 && c <= 0xA0) return false;
  if (c == 0xAD || c == 0x1680 || c == 0x3000 || c == 0xFEFF) return false;
  if (c >= 0x600 && c <= 0x605) return false;
  if (c == 0x61C || c == 0x6DD || c == 0x70F || c == 0x180E) return false;
  if (c >= 0x2000 && c <= 0x200F) return false;
  if (c >= 0x2028 && c <= 0x202F) return false;
  if (c >= 0x205F && c <= 0x206F) return false;
  if (c >= 0xD800 && c <= 0xF8FF) return false;  // surrogates (escaped bytes), private use
  if (c >= 0xFFF9 && c <= 0xFFFB) return false;
  if (c >= 0xF0000) return false;
  return true;
}

void AppendHexEscape(uint32_t c, std::string* out) {
  char buf[16];
  if (c <= 0xFF) {
    std::snprintf(buf, sizeof(buf), "\\x%02x", c);
  } else if (c <= 0xFFFF) {
    std::snprintf(buf, sizeof(buf), "\\u%04x", c);
  } else {
    std::snprintf(buf, sizeof(buf), "\\U%08x", c);
  }
  out->append(buf);
}

void AppendStringRepr(std::string_view s, std::string* out) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  out->push_back(quote);
  for (uint32_t c : DecodeCodePoints(s)) {
    if (IsEscapedByte(c)) {
      AppendHexEscape(c, out);  // Python shows a lone surrogate as \udcXX
      continue;
    }
    if (c == static_cast<uint32_t>(quote) || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '\r') {
      out->append("\\r");
    } else if (c == '\t') {
      out->append("\\t");
    } else if (!IsPyPrintable(c)) {
      AppendHexEscape(c, out);
    } else {
      AppendUtf8(c, out);
    }
  }
  out->push_back(quote);
}

void AppendPyStr(const Value& v, bool repr, int depth, std::string* out) {
  if (depth > kMaxValueDepth) {
    out->append("...");
    return;
  }
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return;
    case Value::Kind::kNone:
      out->append("None");
      return;
    case Value::Kind::kBool:
      out->append(v.bool_value() ? "True" : "False");
      return;
    case Value::Kind::kInt:
      absl::StrAppend(out, v.int_value());
      return;
    case Value::Kind::kFloat:
      out->append(FloatRepr(v.float_value()));
      return;
    case Value::Kind::kString:
      if (repr) {
        AppendStringRepr(v.string_value(), out);
      } else {
        out->append(v.string_value());
      }
      return;
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      const bool tuple = v.kind() == Value::Kind::kTuple;
      out->push_back(tuple ? '(' : '[');
      const ValueList& items = v.list();
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out->append(", ");
        AppendPyStr(items[i], /*repr=*/true, depth + 1, out);
      }
      if (tuple && items.size() == 1) out->push_back(',');
      out->push_back(tuple ? ')' : ']');
      return;
    }
    case Value::Kind::kDict:
    case Value::Kind::kNamespace:
    case Value::Kind::kObject: {
      if (v.kind() == Value::Kind::kNamespace) out->append("<Namespace ");
      if (v.kind() == Value::Kind::kObject) out->append("<object ");
      out->push_back('{');
      bool first = true;
      for (const auto& [key, value] : v.dict().items()) {
        if (!first) out->append(", ");
        first = false;
        AppendPyStr(key, /*repr=*/true, depth + 1, out);
        out->append(": ");
        AppendPyStr(value, /*repr=*/true, depth + 1, out);
      }
      out->push_back('}');
      if (v.is_attribute_bag()) out->push_back('>');
      return;
    }
    case Value::Kind::kFunction:
      absl::StrAppend(out, "<function ", v.function().name, ">");
      return;
  }
}

bool EqualsImpl(const Value& a, const Value& b, int depth) {
  if (depth > kMaxValueDepth) return false;
  if (a.is_number() && b.is_number()) {
    if (!a.is_float() && !b.is_float()) return a.AsInt() == b.AsInt();
    if (a.is_float() && b.is_float()) return a.float_value() == b.float_value();
    const int64_t i = a.is_float() ? b.AsInt() : a.AsInt();
    const double d = a.is_float() ? a.float_value() : b.float_value();
    // Exact comparison, as Python does: 2**53 + 1 != 2.0**53.
    if (!(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18)) return false;
    if (d != std::trunc(d)) return false;
    return static_cast<int64_t>(d) == i;
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kString:
      return a.string_value() == b.string_value();
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      const ValueList& x = a.list();
      const ValueList& y = b.list();
      if (&x == &y) return true;
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!EqualsImpl(x[i], y[i], depth + 1)) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      const Dict& x = a.dict();
      const Dict& y = b.dict();
      if (&x == &y) return true;
      if (x.size() != y.size()) return false;
      for (const auto& [key, value] : x.items()) {
        const Value* other = y.Find(key);
        if (other == nullptr || !EqualsImpl(value, *other, depth + 1)) return false;
      }
      return true;
    }
    default:
      return a.identity() == b.identity();
  }
}

absl::StatusOr<int> CompareImpl(const Value& a, const Value& b, int depth) {
  if (depth > kMaxValueDepth) return absl::InvalidArgumentError("comparison nested too deeply");
  if (a.is_number() && b.is_number()) {
    if (!a.is_float() && !b.is_float()) {
      return a.AsInt() < b.AsInt() ? -1 : (a.AsInt() > b.AsInt() ? 1 : 0);
    }
    const double x = a.AsFloat();
    const double y = b.AsFloat();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.string_value().compare(b.string_value());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_sequence() && a.kind() == b.kind()) {
    const ValueList& x = a.list();
    const ValueList& y = b.list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (EqualsImpl(x[i], y[i], depth + 1)) continue;
      return CompareImpl(x[i], y[i], depth + 1);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  return absl::InvalidArgumentError(absl::StrCat("ordering not supported between instances of '",
                                                 TypeName(a), "' and '", TypeName(b), "'"));
}

void AppendJsonString(std::string_view s, bool ensure_ascii, std::string* out) {
  out->push_back('"');
  for (uint32_t c : DecodeCodePoints(s)) {
    char buf[16];
    switch (c) {
      case '"':
        out->append("\\\"");
        continue;
      case '\\':
        out->append("\\\\");
        continue;
      case '\n':
        out->append("\\n");
        continue;
      case '\r':
        out->append("\\r");
        continue;
      case '\t':
        out->append("\\t");
        continue;
      case '\b':
        out->append("\\b");
        continue;
      case '\f':
        out->append("\\f");
        continue;
      default:
        break;
    }
    if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
      if (c > 0xFFFF) {
        const uint32_t v = c - 0x10000;
        std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else {
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      }
      out->append(buf);
    } else {
      AppendCodePoint(c, out);
    }
  }
  out->push_back('"');
}

std::string JsonFloat(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return FloatRepr(d);
}

absl::StatusOr<std::string> JsonKey(const Value& key) {
  switch (key.kind()) {
    case Value::Kind::kString:
      return key.string_value();
    case Value::Kind::kInt:
      return absl::StrCat(key.int_value());
    case Value::Kind::kFloat:
      return JsonFloat(key.float_value());
    case Value::Kind::kBool:
      return std::string(key.bool_value() ? "true" : "false");
    case Value::Kind::kNone:
      return std::string("null");
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("keys must be str, int, float, bool or None, not ", TypeName(key)));
  }
}

void AppendNewline(const JsonDumpOptions& o, int level, std::string* out) {
  out->push_back('\n');
  for (int i = 0; i < level; ++i) {
    if (o.has_indent_string) {
      out->append(o.indent_string);
    } else {
      out->append(static_cast<size_t>(o.indent), ' ');
    }
  }
}

absl::Status DumpJsonImpl(const Value& v, const JsonDumpOptions& o, int level, std::string* out) {
  if (level > kMaxValueDepth) return absl::InvalidArgumentError("tojson: nesting too deep");
  const bool pretty = o.has_indent_string || o.indent >= 0;
  switch (v.kind()) {
    case Value::Kind::kNone:
      out->append("null");
      return absl::OkStatus();
    case Value::Kind::kBool:
      out->append(v.bool_value() ? "true" : "false");
      return absl::OkStatus();
    case Value::Kind::kInt:
      absl::StrAppend(out, v.int_value());
      return absl::OkStatus();
    case Value::Kind::kFloat:
      out->append(JsonFloat(v.float_value()));
      return absl::OkStatus();
    case Value::Kind::kString:
      AppendJsonString(v.string_value(), o.ensure_ascii, out);
      return absl::OkStatus();
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      const ValueList& items = v.list();
      if (items.empty()) {
        out->append("[]");
        return absl::OkStatus();
      }
      out->push_back('[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out->append(o.item_separator);
        if (pretty) AppendNewline(o, level + 1, out);
        absl::Status s = DumpJsonImpl(items[i], o, level + 1, out);
        if (!s.ok()) return s;
      }
      if (pretty) AppendNewline(o, level, out);
      out->push_back(']');
      return absl::OkStatus();
    }
    case Value::Kind::kDict: {
      const auto& items = v.dict().items();
      if (items.empty()) {
        out->append("{}");
        return absl::OkStatus();
      }
      std::vector<std::pair<std::string, const Value*>> entries;
      entries.reserve(items.size());
      for (const auto& [key, value] : items) {
        absl::StatusOr<std::string> k = JsonKey(key);
        if (!k.ok()) return k.status();
        entries.emplace_back(*std::move(k), &value);
      }
      if (o.sort_keys) {
        std::stable_sort(entries.begin(), entries.end(),
                         [](const auto& x, const auto& y) { return x.first < y.first; });
      }
      out->push_back('{');
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) out->append(o.item_separator);
        if (pretty) AppendNewline(o, level + 1, out);
        AppendJsonString(entries[i].first, o.ensure_ascii, out);
        out->append(o.key_separator);
        absl::Status s = DumpJsonImpl(*entries[i].second, o, level + 1, out);
        if (!s.ok()) return s;
      }
      if (pretty) AppendNewline(o, level, out);
      out->push_back('}');
      return absl::OkStatus();
    }
    case Value::Kind::kUndefined:
      return absl::InvalidArgumentError("Object of type Undefined is not JSON serializable");
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("Object of type ", TypeName(v), " is not JSON serializable"));
  }
}

absl::StatusOr<Value> FromJsonImpl(const nlohmann::ordered_json& j, int depth) {
  if (depth > kMaxValueDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat("template context nested deeper than ", kMaxValueDepth, " levels"));
  }
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
    case nlohmann::ordered_json::value_t::discarded:
      return Value::None();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::Bool(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::Int(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const uint64_t u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Value::Float(static_cast<double>(u));
      }
      return Value::Int(static_cast<int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value::Float(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value::String(j.get_ref<const std::string&>());
    case nlohmann::ordered_json::value_t::array: {
      ValueList items;
      items.reserve(j.size());
      for (const auto& item : j) {
        absl::StatusOr<Value> v = FromJsonImpl(item, depth + 1);
        if (!v.ok()) return v.status();
        items.push_back(*std::move(v));
      }
      return Value::List(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Value dict = Value::NewDict();
      for (const auto& [key, item] : j.items()) {
        absl::StatusOr<Value> v = FromJsonImpl(item, depth + 1);
        if (!v.ok()) return v.status();
        dict.dict().Set(Value::String(key), *std::move(v));
      }
      return dict;
    }
    case nlohmann::ordered_json::value_t::binary:
      break;
  }
  return absl::InvalidArgumentError("template context holds a binary JSON value");
}

}  // namespace

// ---- Dict -------------------------------------------------------------------------------------

size_t Dict::FindIndex(const Value& key) const {
  if (key.is_string()) {
    auto it = string_index_.find(key.string_value());
    return it == string_index_.end() ? kNotFound : it->second;
  }
  for (size_t i = 0; i < items_.size(); ++i) {
    if (!items_[i].first.is_string() && Equals(items_[i].first, key)) return i;
  }
  return kNotFound;
}

const Value* Dict::FindString(std::string_view key) const {
  auto it = string_index_.find(absl::string_view(key.data(), key.size()));
  return it == string_index_.end() ? nullptr : &items_[it->second].second;
}

const Value* Dict::Find(const Value& key) const {
  const size_t i = FindIndex(key);
  return i == kNotFound ? nullptr : &items_[i].second;
}

Value* Dict::Find(const Value& key) {
  const size_t i = FindIndex(key);
  return i == kNotFound ? nullptr : &items_[i].second;
}

void Dict::Set(Value key, Value value) {
  const size_t i = FindIndex(key);
  if (i != kNotFound) {
    items_[i].second = std::move(value);
    return;
  }
  if (key.is_string()) string_index_.emplace(key.string_value(), items_.size());
  items_.emplace_back(std::move(key), std::move(value));
}

bool Dict::Erase(const Value& key) {
  const size_t i = FindIndex(key);
  if (i == kNotFound) return false;
  items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i));
  Reindex();
  return true;
}

void Dict::Clear() {
  items_.clear();
  string_index_.clear();
}

void Dict::Reindex() {
  string_index_.clear();
  for (size_t i = 0; i < items_.size(); ++i) {
    if (items_[i].first.is_string()) string_index_.emplace(items_[i].first.string_value(), i);
  }
}

// ---- Value ------------------------------------------------------------------------------------

Value Value::Undefined(std::string hint) {
  Value v;
  v.data_ = std::move(hint);
  return v;
}

Value Value::None() {
  Value v;
  v.kind_ = Kind::kNone;
  return v;
}

Value Value::Bool(bool b) {
  Value v;
  v.kind_ = Kind::kBool;
  v.data_ = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.kind_ = Kind::kInt;
  v.data_ = i;
  return v;
}

Value Value::Float(double d) {
  Value v;
  v.kind_ = Kind::kFloat;
  v.data_ = d;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.kind_ = Kind::kString;
  v.data_ = std::move(s);
  return v;
}

Value Value::List(ValueList items) {
  Value v;
  v.kind_ = Kind::kList;
  v.data_ = std::make_shared<ValueList>(std::move(items));
  return v;
}

Value Value::Tuple(ValueList items) {
  Value v = List(std::move(items));
  v.kind_ = Kind::kTuple;
  return v;
}

Value Value::NewDict() {
  Value v;
  v.kind_ = Kind::kDict;
  v.data_ = std::make_shared<Dict>();
  return v;
}

Value Value::NewNamespace() {
  Value v = NewDict();
  v.kind_ = Kind::kNamespace;
  return v;
}

Value Value::NewObject() {
  Value v = NewDict();
  v.kind_ = Kind::kObject;
  return v;
}

Value Value::MakeFunction(std::string name,
                          std::function<absl::StatusOr<Value>(Interpreter&, Arguments&)> call) {
  Value v;
  v.kind_ = Kind::kFunction;
  v.data_ = std::make_shared<const Function>(Function{std::move(name), std::move(call)});
  return v;
}

double Value::AsFloat() const { return is_float() ? float_value() : static_cast<double>(AsInt()); }

const void* Value::identity() const {
  if (const auto* p = std::get_if<std::shared_ptr<ValueList>>(&data_)) return p->get();
  if (const auto* p = std::get_if<std::shared_ptr<Dict>>(&data_)) return p->get();
  if (const auto* p = std::get_if<std::shared_ptr<const Function>>(&data_)) return p->get();
  return nullptr;
}

// ---- Python semantics -------------------------------------------------------------------------

bool Truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return false;
    case Value::Kind::kBool:
      return v.bool_value();
    case Value::Kind::kInt:
      return v.int_value() != 0;
    case Value::Kind::kFloat:
      return v.float_value() != 0.0;
    case Value::Kind::kString:
      return !v.string_value().empty();
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return !v.list().empty();
    case Value::Kind::kDict:
      return v.dict().size() > 0;
    default:
      return true;
  }
}

bool Equals(const Value& a, const Value& b) { return EqualsImpl(a, b, 0); }

absl::StatusOr<int> Compare(const Value& a, const Value& b) { return CompareImpl(a, b, 0); }

std::string TypeName(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return "Undefined";
    case Value::Kind::kNone:
      return "NoneType";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "int";
    case Value::Kind::kFloat:
      return "float";
    case Value::Kind::kString:
      return "str";
    case Value::Kind::kList:
      return "list";
    case Value::Kind::kTuple:
      return "tuple";
    case Value::Kind::kDict:
      return "dict";
    case Value::Kind::kNamespace:
      return "Namespace";
    case Value::Kind::kObject:
      return "object";
    case Value::Kind::kFunction:
      return "function";
  }
  return "object";
}

std::string ToPyStr(const Value& v) {
  if (v.is_string()) return v.string_value();
  std::string out;
  AppendPyStr(v, /*repr=*/false, 0, &out);
  return out;
}

std::string ToPyRepr(const Value& v) {
  std::string out;
  AppendPyStr(v, /*repr=*/true, 0, &out);
  return out;
}

std::string FloatRepr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<size_t>(result.ptr - buf));
  // sci looks like "-1.2345e+02": split into sign, digits and exponent.
  std::string out;
  size_t pos = 0;
  if (sci[0] == '-') {
    out.push_back('-');
    pos = 1;
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (size_t i = pos; i < e; ++i) {
    if (sci[i] != '.') digits.push_back(sci[i]);
  }
  int exponent = 0;
  std::from_chars(sci.data() + e + (sci[e + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exponent);
  const int n = static_cast<int>(digits.size());
  if (exponent >= -4 && exponent < 16) {
    const int point = exponent + 1;  // digits before the decimal point
    if (point <= 0) {
      out.append("0.");
      out.append(static_cast<size_t>(-point), '0');
      out.append(digits);
    } else if (point >= n) {
      out.append(digits);
      out.append(static_cast<size_t>(point - n), '0');
      out.append(".0");
    } else {
      out.append(digits, 0, static_cast<size_t>(point));
      out.push_back('.');
      out.append(digits, static_cast<size_t>(point));
    }
    return out;
  }
  out.push_back(digits[0]);
  if (n > 1) {
    out.push_back('.');
    out.append(digits, 1);
  }
  char exp_buf[16];
  std::snprintf(exp_buf, sizeof(exp_buf), "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  out.append(exp_buf);
  return out;
}

absl::StatusOr<std::string> DumpJson(const Value& v, const JsonDumpOptions& options) {
  std::string out;
  absl::Status s = DumpJsonImpl(v, options, 0, &out);
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<Value> FromJson(const nlohmann::ordered_json& json) { return FromJsonImpl(json, 0); }

}  // namespace infer::jinja
