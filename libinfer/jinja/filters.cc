// Filters and tests, following jinja2/filters.py and jinja2/tests.py (3.1), with Hugging Face's
// tojson (json.dumps without HTML escaping, ensure_ascii=False, keys unsorted).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "libinfer/jinja/builtins.h"
#include "libinfer/jinja/interpreter.h"
#include "libinfer/util/status_macros.h"
#include "libinfer/util/unicode.h"

namespace infer::jinja {
namespace {

// jinja2's soft_str: strings as they are, anything else through Python's str().
std::string SoftStr(const Value& v) { return v.is_string() ? v.string_value() : ToPyStr(v); }

bool Given(const Value& v) { return !v.is_undefined(); }

// jinja2's make_attrgetter: "a.b.0" looked up item-first at each step.
absl::StatusOr<Value> GetPath(Interpreter& interp, const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    if (dot == std::string::npos) dot = path.size();
    const std::string part = path.substr(start, dot - start);
    Value key = Value::String(part);
    if (!part.empty() &&
        std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      key = Value::Int(std::strtoll(part.c_str(), nullptr, 10));
    }
    INFER_ASSIGN_OR_RETURN(v, GetItem(interp, v, key));
    start = dot + 1;
  }
  return v;
}

// The sort/unique/min/max key: the attribute (if any), lowercased unless case-sensitive.
absl::StatusOr<Value> SortKey(Interpreter& interp, const Value& item, const Value& attribute,
                              bool case_sensitive) {
  Value key = item;
  if (Given(attribute) && !attribute.is_none()) {
    INFER_ASSIGN_OR_RETURN(key, GetPath(interp, item, SoftStr(attribute)));
  }
  if (!case_sensitive && key.is_string()) return Value::String(PyLower(key.string_value()));
  return key;
}

// ---- filters ----

absl::StatusOr<Value> FilterDefault(Interpreter&, const Value& in, Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments("default", args, {"default_value", "boolean"}, &a));
  const Value fallback = Given(a[0]) ? a[0] : Value::String("");
  if (in.is_undefined() || (Truthy(a[1]) && !Truthy(in))) return fallback;
  return in;
}

absl::StatusOr<Value> FilterLength(Interpreter&, const Value& in, Arguments& args) {
  switch (in.kind()) {
    case Value::Kind::kString:
      return Value::Int(static_cast<int64_t>(CodePointLength(in.string_value())));
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return Value::Int(static_cast<int64_t>(in.list().size()));
    case Value::Kind::kDict:
      return Value::Int(static_cast<int64_t>(in.dict().size()));
    case Value::Kind::kUndefined:
      return Value::Int(0);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("object of type '", TypeName(in), "' has no len()"));
  }
}

absl::StatusOr<Value> FilterTrim(Interpreter&, const Value& in, Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments("trim", args, {"chars"}, &a));
  if (!Given(a[0]) || a[0].is_none())
    return Value::String(PyStrip(SoftStr(in), nullptr, true, true));
  const std::string chars = SoftStr(a[0]);
  return Value::String(PyStrip(SoftStr(in), &chars, true, true));
}

absl::StatusOr<Value> FilterTitle(Interpreter&, const Value& in, Arguments&) {
  // jinja2 splits on runs of -, whitespace and opening brackets, then upper-cases the first
  // character of every piece and lower-cases the rest.
  const std::vector<uint32_t> cps = DecodeCodePoints(SoftStr(in));
  const auto is_separator = [](uint32_t c) {
    return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || IsPySpace(c);
  };
  std::string out;
  size_t i = 0;
  while (i < cps.size()) {
    const bool sep = is_separator(cps[i]);
    size_t j = i;
    while (j < cps.size() && is_separator(cps[j]) == sep) ++j;
    std::string first;
    AppendUtf8(cps[i], &first);
    out += PyUpper(first);
    out += PyLower(
        EncodeCodePoints(std::vector<uint32_t>(cps.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                                               cps.begin() + static_cast<std::ptrdiff_t>(j))));
    i = j;
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FilterCapitalize(Interpreter&, const Value& in, Arguments&) {
  std::vector<uint32_t> cps = DecodeCodePoints(SoftStr(in));
  if (cps.empty()) return Value::String("");
  std::string first;
  AppendUtf8(cps[0], &first);
  cps.erase(cps.begin());
  return Value::String(PyUpper(first) + PyLower(EncodeCodePoints(cps)));
}

absl::StatusOr<Value> FilterReplace(Interpreter& interp, const Value& in, Arguments& args) {
  // Delegate to str.replace on the stringified input.
  INFER_ASSIGN_OR_RETURN(Value method, GetAttribute(interp, Value::String(SoftStr(in)), "replace"));
  return interp.Call(method, args);
}

absl::StatusOr<Value> FilterToJson(Interpreter&, const Value& in, Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(
      BindArguments("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"}, &a));
  JsonDumpOptions o;
  o.ensure_ascii = Given(a[0]) && Truthy(a[0]);
  if (Given(a[1]) && !a[1].is_none()) {
    if (a[1].is_string()) {
      o.has_indent_string = true;
      o.indent_string = a[1].string_value();
    } else {
      INFER_ASSIGN_OR_RETURN(int64_t indent, ExpectInt(a[1], "indent"));
      o.indent = static_cast<int>(std::clamp<int64_t>(indent, 0, 64));
    }
    o.item_separator = ",";
  }
  if (Given(a[2]) && !a[2].is_none()) {
    if (!a[2].is_sequence() || a[2].list().size() != 2 || !a[2].list()[0].is_string() ||
        !a[2].list()[1].is_string()) {
      return absl::InvalidArgumentError("tojson: separators must be a pair of strings");
    }
    o.item_separator = a[2].list()[0].string_value();
    o.key_separator = a[2].list()[1].string_value();
  }
  o.sort_keys = Given(a[3]) && Truthy(a[3]);
  INFER_ASSIGN_OR_RETURN(std::string json, DumpJson(in, o));
  return Value::String(std::move(json));
}

absl::StatusOr<Value> FilterFirstLast(const Value& in, bool first) {
  INFER_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  if (items.empty()) return Value::Undefined("No first item, sequence was empty.");
  return first ? items.front() : items.back();
}

absl::StatusOr<Value> FilterJoin(Interpreter& interp, const Value& in, Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments("join", args, {"d", "attribute"}, &a));
  INFER_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  const std::string sep = Given(a[0]) ? SoftStr(a[0]) : "";
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    Value item = items[i];
    if (Given(a[1]) && !a[1].is_none()) {
      INFER_ASSIGN_OR_RETURN(item, GetPath(interp, item, SoftStr(a[1])));
    }
    if (i > 0) out += sep;
    out += SoftStr(item);
    INFER_RETURN_IF_ERROR(interp.CheckStringSize(out.size()));
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FilterInt(Interpreter&, const Value& in, Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments("int", args, {"default", "base"}, &a));
  const Value fallback = Given(a[0]) ? a[0] : Value::Int(0);
  int base = 10;
  if (Given(a[1])) {
    INFER_ASSIGN_OR_RETURN(int64_t b, ExpectInt(a[1], "base"));
    base = static_cast<int>(b);
  }
  if (in.is_int() || in.is_bool()) return Value::Int(in.AsInt());
  if (in.is_float()) {
    if (!std::isfinite(in.float_value()) || std::fabs(in.float_value()) >= 9.2e18) {
      return absl::InvalidArgumentError("cannot convert float to a 64-bit integer");
    }
    return Value::Int(static_cast<int64_t>(in.float_value()));
  }
  if (!in.is_string()) return fallback;
  std::string text;
  for (char c : PyStrip(in.string_value(), nullptr, true, true)) {
    if (c != '_') text.push_back(c);
  }
  if (text.empty()) return fallback;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, base);
  if (errno == 0 && end == text.c_str() + text.size()) return Value::Int(v);
  const double d = std::strtod(text.c_str(), &end);
  if (end == text.c_str() + text.size() && std::isfinite(d) && std::fabs(d) < 9.2e18) {
    return Value::Int(static_cast<int64_t>(d));
  }
  return fallback;
}

absl::StatusOr<Value> FilterFloat(Interpreter&, const Value& in, Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments("float", args, {"default"}, &a));
  const Value fallback = Given(a[0]) ? a[0] : Value::Float(0.0);
  if (in.is_number()) return Value::Float(in.AsFloat());
  if (!in.is_string()) return fallback;
  const std::string text = PyStrip(in.string_value(), nullptr, true, true);
  if (text.empty()) return fallback;
  char* end = nullptr;
  const double d = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size()) return fallback;
  return Value::Float(d);
}

absl::StatusOr<Value> FilterRound(Interpreter&, const Value& in, Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments("round", args, {"precision", "method"}, &a));
  int64_t precision = 0;
  if (Given(a[0])) {
    INFER_ASSIGN_OR_RETURN(precision, ExpectInt(a[0], "precision"));
  }
  const std::string method = Given(a[1]) ? SoftStr(a[1]) : "common";
  if (method != "common" && method != "ceil" && method != "floor") {
    return absl::InvalidArgumentError("method must be 'common', 'ceil' or 'floor'");
  }
  if (!in.is_number()) {
    return absl::InvalidArgumentError(
        absl::StrCat("type ", TypeName(in), " doesn't define __round__ method"));
  }
  if (method == "common" && !in.is_float()) return Value::Int(in.AsInt());
  const double x = in.AsFloat();
  if (method != "common") {
    const double scale = std::pow(10.0, static_cast<double>(precision));
    const double r = method == "ceil" ? std::ceil(x * scale) : std::floor(x * scale);
    return Value::Float(r / scale);
  }
  if (!std::isfinite(x)) return Value::Float(x);
  if (precision < 0) {
    const double scale = std::pow(10.0, static_cast<double>(-precision));
    return Value::Float(std::nearbyint(x / scale) * scale);
  }
  // printf rounds the exact binary value half-to-even, as Python's round() does.
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(std::min<int64_t>(precision, 300)), x);
  return Value::Float(std::strtod(buf, nullptr));
}

absl::StatusOr<Value> FilterAbs(Interpreter&, const Value& in, Arguments&) {
  if (in.is_float()) return Value::Float(std::fabs(in.float_value()));
  if (in.is_int() || in.is_bool()) {
    if (in.AsInt() == std::numeric_limits<int64_t>::min()) {
      return absl::InvalidArgumentError("integer overflow (beyond 64 bits)");
    }
    return Value::Int(std::llabs(in.AsInt()));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("bad operand type for abs(): '", TypeName(in), "'"));
}

absl::StatusOr<Value> FilterItems(Interpreter&, const Value& in, Arguments&) {
  if (in.is_undefined()) return Value::List();
  if (!in.is_dict()) return absl::InvalidArgumentError("Can only get item pairs from a mapping.");
  ValueList out;
  for (const auto& [k, v] : in.dict().items()) out.push_back(Value::Tuple({k, v}));
  return Value::List(std::move(out));
}

absl::StatusOr<Value> FilterList(Interpreter&, const Value& in, Arguments&) {
  INFER_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  return Value::List(std::move(items));
}

absl::StatusOr<Value> FilterReverse(Interpreter&, const Value& in, Arguments&) {
  if (in.is_string()) {
    std::vector<uint32_t> cps = DecodeCodePoints(in.string_value());
    std::reverse(cps.begin(), cps.end());
    return Value::String(EncodeCodePoints(cps));
  }
  INFER_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  std::reverse(items.begin(), items.end());
  return Value::List(std::move(items));
}

absl::StatusOr<Value> FilterSort(Interpreter& interp, const Value& in, Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(
      BindArguments("sort", args, {"reverse", "case_sensitive", "attribute"}, &a));
  INFER_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  std::vector<std::pair<Value, size_t>> keyed;
  for (size_t i = 0; i < items.size(); ++i) {
    INFER_ASSIGN_OR_RETURN(Value key, SortKey(interp, items[i], a[2], Truthy(a[1])));
    keyed.emplace_back(std::move(key), i);
  }
  absl::Status error;
  const bool reverse = Truthy(a[0]);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    absl::StatusOr<int> c = Compare(x.first, y.first);
    if (!c.ok()) {
      error.Update(c.status());
      return false;
    }
    return reverse ? *c > 0 : *c < 0;
  });
  INFER_RETURN_IF_ERROR(error);
  ValueList out;
  for (const auto& [key, index] : keyed) out.push_back(items[index]);
  return Value::List(std::move(out));
}

absl::StatusOr<Value> FilterUnique(Interpreter& interp, const Value& in, Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments("unique", args, {"case_sensitive", "attribute"}, &a));
  INFER_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  ValueList out;
  ValueList seen;
  absl::flat_hash_set<std::string> seen_strings;
  for (const Value& item : items) {
    INFER_ASSIGN_OR_RETURN(Value key, SortKey(interp, item, a[1], Truthy(a[0])));
    if (key.is_string()) {
      if (!seen_strings.insert(key.string_value()).second) continue;
    } else {
      if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return Equals(s, key); })) {
        continue;
      }
      seen.push_back(key);
    }
    out.push_back(item);
  }
  return Value::List(std::move(out));
}

absl::StatusOr<Value> FilterMinMax(Interpreter& interp, const Value& in, Arguments& args,
                                   bool max) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(
      BindArguments(max ? "max" : "min", args, {"case_sensitive", "attribute"}, &a));
  INFER_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  INFER_ASSIGN_OR_RETURN(Value best_key, SortKey(interp, items[0], a[1], Truthy(a[0])));
  for (size_t i = 1; i < items.size(); ++i) {
    INFER_ASSIGN_OR_RETURN(Value key, SortKey(interp, items[i], a[1], Truthy(a[0])));
    INFER_ASSIGN_OR_RETURN(int c, Compare(key, best_key));
    if (max ? c > 0 : c < 0) {
      best = i;
      best_key = std::move(key);
    }
  }
  return items[best];
}

absl::StatusOr<Value> FilterSum(Interpreter& interp, const Value& in, Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments("sum", args, {"attribute", "start"}, &a));
  INFER_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  Value total = Given(a[1]) ? a[1] : Value::Int(0);
  for (const Value& item : items) {
    Value v = item;
    if (Given(a[0]) && !a[0].is_none()) {
      INFER_ASSIGN_OR_RETURN(v, GetPath(interp, item, SoftStr(a[0])));
    }
    INFER_ASSIGN_OR_RETURN(total, BinaryOperation(interp, BinaryOp::kAdd, total, v));
  }
  return total;
}

// select / reject / selectattr / rejectattr.
absl::StatusOr<Value> SelectOrReject(Interpreter& interp, const Value& in, Arguments& args,
                                     bool by_attribute, bool select) {
  INFER_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  std::vector<Value> positional = std::move(args.positional);
  size_t next = 0;
  std::string attribute;
  if (by_attribute) {
    if (positional.empty()) return absl::InvalidArgumentError("missing attribute to test");
    attribute = SoftStr(positional[next++]);
  }
  TestFn test = nullptr;
  if (next < positional.size()) {
    const std::string name = SoftStr(positional[next++]);
    test = FindTest(name);
    if (test == nullptr)
      return absl::InvalidArgumentError(absl::StrCat("no test named '", name, "'"));
  }
  ValueList out;
  for (const Value& item : items) {
    Value subject = item;
    if (by_attribute) {
      INFER_ASSIGN_OR_RETURN(subject, GetPath(interp, item, attribute));
    }
    bool passed = false;
    if (test == nullptr) {
      passed = Truthy(subject);
    } else {
      Arguments test_args;
      test_args.positional.assign(positional.begin() + static_cast<std::ptrdiff_t>(next),
                                  positional.end());
      test_args.keyword = args.keyword;
      INFER_ASSIGN_OR_RETURN(passed, test(interp, subject, test_args));
    }
    if (passed == select) out.push_back(item);
  }
  return Value::List(std::move(out));
}

absl::StatusOr<Value> FilterMap(Interpreter& interp, const Value& in, Arguments& args) {
  INFER_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  ValueList out;
  if (args.positional.empty()) {
    Value attribute;
    Value fallback;
    for (auto& [key, value] : args.keyword) {
      if (key == "attribute") {
        attribute = value;
      } else if (key == "default") {
        fallback = value;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("map(): unexpected keyword argument '", key, "'"));
      }
    }
    if (!Given(attribute))
      return absl::InvalidArgumentError("map() needs a filter name or attribute=");
    for (const Value& item : items) {
      INFER_ASSIGN_OR_RETURN(Value v, GetPath(interp, item, SoftStr(attribute)));
      if (v.is_undefined() && Given(fallback)) v = fallback;
      out.push_back(std::move(v));
    }
    return Value::List(std::move(out));
  }
  const std::string name = SoftStr(args.positional[0]);
  const FilterFn filter = FindFilter(name);
  if (filter == nullptr)
    return absl::InvalidArgumentError(absl::StrCat("no filter named '", name, "'"));
  for (const Value& item : items) {
    Arguments filter_args;
    filter_args.positional.assign(args.positional.begin() + 1, args.positional.end());
    filter_args.keyword = args.keyword;
    INFER_ASSIGN_OR_RETURN(Value v, filter(interp, item, filter_args));
    out.push_back(std::move(v));
  }
  return Value::List(std::move(out));
}

absl::StatusOr<Value> FilterEscape(Interpreter&, const Value& in, Arguments&) {
  std::string out;
  for (char c : SoftStr(in)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FilterIndent(Interpreter& interp, const Value& in, Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments("indent", args, {"width", "first", "blank"}, &a));
  std::string indentation = "    ";
  if (Given(a[0])) {
    if (a[0].is_string()) {
      indentation = a[0].string_value();
    } else {
      INFER_ASSIGN_OR_RETURN(int64_t width, ExpectInt(a[0], "width"));
      indentation.assign(static_cast<size_t>(std::clamp<int64_t>(width, 0, 1024)), ' ');
    }
  }
  // jinja2 appends a newline, then splits lines as str.splitlines() does.
  const std::string s = SoftStr(in) + "\n";
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '\x1c' || c == '\x1d' ||
        c == '\x1e') {
      lines.push_back(s.substr(start, i - start));
      if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  std::string out;
  if (Truthy(a[2])) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i > 0) out += "\n" + indentation;
      out += lines[i];
    }
  } else if (!lines.empty()) {
    out = lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      out += "\n";
      if (!lines[i].empty()) out += indentation;
      out += lines[i];
    }
  }
  if (Truthy(a[1])) out = indentation + out;
  INFER_RETURN_IF_ERROR(interp.CheckStringSize(out.size()));
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FilterWordcount(Interpreter&, const Value& in, Arguments&) {
  int64_t words = 0;
  bool in_word = false;
  for (uint32_t c : DecodeCodePoints(SoftStr(in))) {
    const bool word_char = c == '_' || (CodePointClass(c) & (kCpLetter | kCpNumber)) != 0;
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return Value::Int(words);
}

absl::StatusOr<Value> FilterBatch(Interpreter&, const Value& in, Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments("batch", args, {"linecount", "fill_with"}, &a));
  INFER_ASSIGN_OR_RETURN(int64_t size, ExpectInt(a[0], "linecount"));
  if (size <= 0) return absl::InvalidArgumentError("batch size must be positive");
  INFER_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  ValueList out;
  for (size_t i = 0; i < items.size(); i += static_cast<size_t>(size)) {
    ValueList row(items.begin() + static_cast<std::ptrdiff_t>(i),
                  items.begin() + static_cast<std::ptrdiff_t>(
                                      std::min(items.size(), i + static_cast<size_t>(size))));
    if (Given(a[1]) && !a[1].is_none()) {
      while (row.size() < static_cast<size_t>(size)) row.push_back(a[1]);
    }
    out.push_back(Value::List(std::move(row)));
  }
  return Value::List(std::move(out));
}

absl::StatusOr<Value> FilterDictsort(Interpreter& interp, const Value& in, Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments("dictsort", args, {"case_sensitive", "by", "reverse"}, &a));
  INFER_ASSIGN_OR_RETURN(Value pairs, FilterItems(interp, in, args));
  const bool by_value = Given(a[1]) && SoftStr(a[1]) == "value";
  Arguments sort_args;
  sort_args.keyword.emplace_back("reverse", Value::Bool(Truthy(a[2])));
  sort_args.keyword.emplace_back("case_sensitive", Value::Bool(Truthy(a[0])));
  sort_args.keyword.emplace_back("attribute", Value::String(by_value ? "1" : "0"));
  return FilterSort(interp, pairs, sort_args);
}

struct FilterEntry {
  std::string_view name;
  FilterFn fn;
};

const FilterEntry kFilters[] = {
    {"abs", FilterAbs},
    {"batch", FilterBatch},
    {"capitalize", FilterCapitalize},
    {"count", FilterLength},
    {"d", FilterDefault},
    {"default", FilterDefault},
    {"dictsort", FilterDictsort},
    {"e", FilterEscape},
    {"escape", FilterEscape},
    {"first", [](Interpreter&, const Value& in, Arguments&) { return FilterFirstLast(in, true); }},
    {"float", FilterFloat},
    {"forceescape", FilterEscape},
    {"indent", FilterIndent},
    {"int", FilterInt},
    {"items", FilterItems},
    {"join", FilterJoin},
    {"last", [](Interpreter&, const Value& in, Arguments&) { return FilterFirstLast(in, false); }},
    {"length", FilterLength},
    {"list", FilterList},
    {"lower",
     [](Interpreter&, const Value& in, Arguments&) -> absl::StatusOr<Value> {
       return Value::String(PyLower(SoftStr(in)));
     }},
    {"map", FilterMap},
    {"max",
     [](Interpreter& i, const Value& in, Arguments& a) { return FilterMinMax(i, in, a, true); }},
    {"min",
     [](Interpreter& i, const Value& in, Arguments& a) { return FilterMinMax(i, in, a, false); }},
    {"reject", [](Interpreter& i, const Value& in,
                  Arguments& a) { return SelectOrReject(i, in, a, false, false); }},
    {"rejectattr", [](Interpreter& i, const Value& in,
                      Arguments& a) { return SelectOrReject(i, in, a, true, false); }},
    {"replace", FilterReplace},
    {"reverse", FilterReverse},
    {"round", FilterRound},
    {"safe",
     [](Interpreter&, const Value& in, Arguments&) -> absl::StatusOr<Value> {
       return Value::String(SoftStr(in));
     }},
    {"select", [](Interpreter& i, const Value& in,
                  Arguments& a) { return SelectOrReject(i, in, a, false, true); }},
    {"selectattr", [](Interpreter& i, const Value& in,
                      Arguments& a) { return SelectOrReject(i, in, a, true, true); }},
    {"sort", FilterSort},
    {"string",
     [](Interpreter&, const Value& in, Arguments&) -> absl::StatusOr<Value> {
       return Value::String(SoftStr(in));
     }},
    {"sum", FilterSum},
    {"title", FilterTitle},
    {"tojson", FilterToJson},
    {"trim", FilterTrim},
    {"unique", FilterUnique},
    {"upper",
     [](Interpreter&, const Value& in, Arguments&) -> absl::StatusOr<Value> {
       return Value::String(PyUpper(SoftStr(in)));
     }},
    {"wordcount", FilterWordcount},
};

// ---- tests ----

absl::StatusOr<bool> CompareTest(const Value& in, Arguments& args, CompareOp op) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments("comparison test", args, {"other"}, &a));
  if (op == CompareOp::kEq) return Equals(in, a[0]);
  if (op == CompareOp::kNe) return !Equals(in, a[0]);
  if (in.is_undefined()) return UndefinedError(in);
  if (a[0].is_undefined()) return UndefinedError(a[0]);
  INFER_ASSIGN_OR_RETURN(int c, Compare(in, a[0]));
  switch (op) {
    case CompareOp::kLt:
      return c < 0;
    case CompareOp::kLe:
      return c <= 0;
    case CompareOp::kGt:
      return c > 0;
    default:
      return c >= 0;
  }
}

template <CompareOp kOp>
absl::StatusOr<bool> TestCompare(Interpreter&, const Value& in, Arguments& args) {
  return CompareTest(in, args, kOp);
}

template <bool (*Pred)(const Value&)>
absl::StatusOr<bool> TestKind(Interpreter&, const Value& in, Arguments&) {
  return Pred(in);
}

absl::StatusOr<bool> TestParity(const Value& in, bool odd) {
  INFER_ASSIGN_OR_RETURN(int64_t v, ExpectInt(in, "value"));
  return (v % 2 != 0) == odd;
}

struct TestEntry {
  std::string_view name;
  TestFn fn;
};

const TestEntry kTests[] = {
    {"!=", TestCompare<CompareOp::kNe>},
    {"<", TestCompare<CompareOp::kLt>},
    {"<=", TestCompare<CompareOp::kLe>},
    {"==", TestCompare<CompareOp::kEq>},
    {">", TestCompare<CompareOp::kGt>},
    {">=", TestCompare<CompareOp::kGe>},
    {"boolean", TestKind<[](const Value& v) { return v.is_bool(); }>},
    {"callable", TestKind<[](const Value& v) { return v.is_function(); }>},
    {"defined", TestKind<[](const Value& v) { return !v.is_undefined(); }>},
    {"divisibleby",
     [](Interpreter&, const Value& in, Arguments& args) -> absl::StatusOr<bool> {
       std::vector<Value> a;
       INFER_RETURN_IF_ERROR(BindArguments("divisibleby", args, {"num"}, &a));
       INFER_ASSIGN_OR_RETURN(int64_t v, ExpectInt(in, "value"));
       INFER_ASSIGN_OR_RETURN(int64_t n, ExpectInt(a[0], "num"));
       if (n == 0) return absl::InvalidArgumentError("integer division or modulo by zero");
       return n == -1 || v % n == 0;
     }},
    {"eq", TestCompare<CompareOp::kEq>},
    {"equalto", TestCompare<CompareOp::kEq>},
    {"escaped", TestKind<[](const Value&) { return false; }>},
    {"even", [](Interpreter&, const Value& in, Arguments&) { return TestParity(in, false); }},
    {"false", TestKind<[](const Value& v) { return v.is_bool() && !v.bool_value(); }>},
    {"float", TestKind<[](const Value& v) { return v.is_float(); }>},
    {"ge", TestCompare<CompareOp::kGe>},
    {"greaterthan", TestCompare<CompareOp::kGt>},
    {"gt", TestCompare<CompareOp::kGt>},
    {"in",
     [](Interpreter&, const Value& in, Arguments& args) -> absl::StatusOr<bool> {
       std::vector<Value> a;
       INFER_RETURN_IF_ERROR(BindArguments("in", args, {"seq"}, &a));
       return Contains(a[0], in);
     }},
    {"integer", TestKind<[](const Value& v) { return v.is_int(); }>},
    {"iterable", TestKind<[](const Value& v) {
       return v.is_string() || v.is_sequence() || v.is_dict() || v.is_undefined();
     }>},
    {"le", TestCompare<CompareOp::kLe>},
    {"lessthan", TestCompare<CompareOp::kLt>},
    {"lower", TestKind<[](const Value& v) {
       return v.is_string() && PyLower(v.string_value()) == v.string_value() &&
              PyUpper(v.string_value()) != v.string_value();
     }>},
    {"lt", TestCompare<CompareOp::kLt>},
    {"mapping", TestKind<[](const Value& v) { return v.is_dict(); }>},
    {"ne", TestCompare<CompareOp::kNe>},
    {"none", TestKind<[](const Value& v) { return v.is_none(); }>},
    {"number", TestKind<[](const Value& v) { return v.is_number(); }>},
    {"odd", [](Interpreter&, const Value& in, Arguments&) { return TestParity(in, true); }},
    {"sameas",
     [](Interpreter&, const Value& in, Arguments& args) -> absl::StatusOr<bool> {
       std::vector<Value> a;
       INFER_RETURN_IF_ERROR(BindArguments("sameas", args, {"other"}, &a));
       if (in.kind() != a[0].kind()) return false;
       if (in.identity() != nullptr) return in.identity() == a[0].identity();
       return Equals(in, a[0]);
     }},
    {"sequence", TestKind<[](const Value& v) {
       return v.is_string() || v.is_sequence() || v.is_dict() || v.is_undefined();
     }>},
    {"string", TestKind<[](const Value& v) { return v.is_string(); }>},
    {"true", TestKind<[](const Value& v) { return v.is_bool() && v.bool_value(); }>},
    {"undefined", TestKind<[](const Value& v) { return v.is_undefined(); }>},
    {"upper", TestKind<[](const Value& v) {
       return v.is_string() && PyUpper(v.string_value()) == v.string_value() &&
              PyLower(v.string_value()) != v.string_value();
     }>},
};

}  // namespace

FilterFn FindFilter(std::string_view name) {
  for (const FilterEntry& e : kFilters) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

TestFn FindTest(std::string_view name) {
  for (const TestEntry& e : kTests) {
    if (e.name == name) return e.fn;
  }
  return nullptr;
}

}  // namespace infer::jinja
