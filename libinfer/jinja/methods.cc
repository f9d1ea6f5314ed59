// Attribute and item access, the Python methods of str/list/dict, and the global functions.
#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libinfer/jinja/builtins.h"
#include "libinfer/jinja/interpreter.h"
#include "libinfer/util/status_macros.h"
#include "libinfer/util/unicode.h"

namespace infer::jinja {
namespace {

using Method = absl::StatusOr<Value> (*)(Interpreter& interp, const Value& self, Arguments& args);

struct MethodEntry {
  std::string_view name;
  Method method;
  bool mutates;  // refused unless InterpreterOptions::allow_mutation (jinja2's immutable sandbox)
};

bool IsCased(uint32_t c) { return (CodePointClass(c) & kCpLetter) != 0; }

// Code-point index of byte offset `byte` in `s`.
int64_t CodePointIndex(std::string_view s, size_t byte) {
  return static_cast<int64_t>(CodePointLength(s.substr(0, byte)));
}

// ---- str methods ----

absl::StatusOr<Value> StrStrip(absl::string_view fn, bool left, bool right, const Value& self,
                               Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments(fn, args, {"chars"}, &a));
  if (a[0].is_undefined() || a[0].is_none()) {
    return Value::String(PyStrip(self.string_value(), nullptr, left, right));
  }
  INFER_ASSIGN_OR_RETURN(std::string chars, ExpectString(a[0], "strip argument"));
  return Value::String(PyStrip(self.string_value(), &chars, left, right));
}

absl::StatusOr<Value> StrSplit(Interpreter& interp, const Value& self, Arguments& args,
                               bool from_right) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments("split", args, {"sep", "maxsplit"}, &a));
  int64_t maxsplit = -1;
  if (!a[1].is_undefined()) {
    INFER_ASSIGN_OR_RETURN(maxsplit, ExpectInt(a[1], "maxsplit"));
  }
  const std::string& s = self.string_value();
  std::vector<std::string> parts;
  if (a[0].is_undefined() || a[0].is_none()) {
    // Runs of whitespace separate; leading/trailing whitespace yields no empty parts.
    std::vector<uint32_t> cps = DecodeCodePoints(s);
    if (from_right) std::reverse(cps.begin(), cps.end());
    size_t i = 0;
    while (i < cps.size()) {
      while (i < cps.size() && IsPySpace(cps[i])) ++i;
      if (i >= cps.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        size_t end = cps.size();
        while (end > i && IsPySpace(cps[end - 1])) --end;
        std::vector<uint32_t> rest(cps.begin() + static_cast<std::ptrdiff_t>(i),
                                   cps.begin() + static_cast<std::ptrdiff_t>(end));
        if (from_right) std::reverse(rest.begin(), rest.end());
        parts.push_back(EncodeCodePoints(rest));
        break;
      }
      size_t j = i;
      while (j < cps.size() && !IsPySpace(cps[j])) ++j;
      std::vector<uint32_t> word(cps.begin() + static_cast<std::ptrdiff_t>(i),
                                 cps.begin() + static_cast<std::ptrdiff_t>(j));
      if (from_right) std::reverse(word.begin(), word.end());
      parts.push_back(EncodeCodePoints(word));
      i = j;
    }
    if (from_right) std::reverse(parts.begin(), parts.end());
  } else {
    INFER_ASSIGN_OR_RETURN(std::string sep, ExpectString(a[0], "separator"));
    if (sep.empty()) return absl::InvalidArgumentError("empty separator");
    if (!from_right) {
      size_t start = 0;
      while (true) {
        const size_t at = (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit)
                              ? std::string::npos
                              : s.find(sep, start);
        if (at == std::string::npos) {
          parts.push_back(s.substr(start));
          break;
        }
        parts.push_back(s.substr(start, at - start));
        start = at + sep.size();
      }
    } else {
      size_t end = s.size();
      while (true) {
        const size_t at =
            (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) || end < sep.size()
                ? std::string::npos
                : s.rfind(sep, end - sep.size());
        if (at == std::string::npos) {
          parts.push_back(s.substr(0, end));
          break;
        }
        parts.push_back(s.substr(at + sep.size(), end - at - sep.size()));
        end = at;
      }
      std::reverse(parts.begin(), parts.end());
    }
  }
  INFER_RETURN_IF_ERROR(interp.CountIterations(static_cast<int64_t>(parts.size())));
  ValueList items;
  items.reserve(parts.size());
  for (std::string& p : parts) items.push_back(Value::String(std::move(p)));
  return Value::List(std::move(items));
}

absl::StatusOr<Value> StrAffix(const Value& self, Arguments& args, bool prefix) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments(prefix ? "startswith" : "endswith", args, {"affix"}, &a));
  std::vector<std::string> candidates;
  if (a[0].kind() == Value::Kind::kTuple) {
    for (const Value& v : a[0].list()) {
      INFER_ASSIGN_OR_RETURN(std::string c, ExpectString(v, "affix"));
      candidates.push_back(std::move(c));
    }
  } else {
    INFER_ASSIGN_OR_RETURN(std::string c, ExpectString(a[0], "affix"));
    candidates.push_back(std::move(c));
  }
  const std::string& s = self.string_value();
  for (const std::string& c : candidates) {
    if (c.size() > s.size()) continue;
    if (prefix ? s.compare(0, c.size(), c) == 0
               : s.compare(s.size() - c.size(), c.size(), c) == 0) {
      return Value::Bool(true);
    }
  }
  return Value::Bool(false);
}

std::string PyTitle(std::string_view s) {
  std::string out;
  bool previous_cased = false;
  for (uint32_t c : DecodeCodePoints(s)) {
    std::string one;
    AppendUtf8(c, &one);
    out += previous_cased ? PyLower(one) : PyUpper(one);
    previous_cased = IsCased(c);
  }
  return out;
}

std::string PyCapitalize(std::string_view s) {
  std::vector<uint32_t> cps = DecodeCodePoints(s);
  if (cps.empty()) return "";
  std::string first;
  AppendUtf8(cps[0], &first);
  cps.erase(cps.begin());
  return PyUpper(first) + PyLower(EncodeCodePoints(cps));
}

absl::StatusOr<Value> StrReplace(Interpreter& interp, const Value& self, Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments("replace", args, {"old", "new", "count"}, &a));
  INFER_ASSIGN_OR_RETURN(std::string old_text, ExpectString(a[0], "replace() argument 1"));
  INFER_ASSIGN_OR_RETURN(std::string new_text, ExpectString(a[1], "replace() argument 2"));
  int64_t count = -1;
  if (!a[2].is_undefined() && !a[2].is_none()) {
    INFER_ASSIGN_OR_RETURN(count, ExpectInt(a[2], "count"));
  }
  const std::string& s = self.string_value();
  std::string out;
  int64_t done = 0;
  if (old_text.empty()) {
    // Python inserts `new` before every code point and at the end.
    const std::vector<uint32_t> cps = DecodeCodePoints(s);
    for (uint32_t c : cps) {
      if (count < 0 || done < count) {
        out += new_text;
        ++done;
      }
      AppendUtf8(c, &out);
      INFER_RETURN_IF_ERROR(interp.CheckStringSize(out.size()));
    }
    if (count < 0 || done < count) out += new_text;
    return Value::String(std::move(out));
  }
  size_t start = 0;
  while (count < 0 || done < count) {
    const size_t at = s.find(old_text, start);
    if (at == std::string::npos) break;
    out.append(s, start, at - start);
    out += new_text;
    INFER_RETURN_IF_ERROR(interp.CheckStringSize(out.size()));
    start = at + old_text.size();
    ++done;
  }
  out.append(s, start);
  INFER_RETURN_IF_ERROR(interp.CheckStringSize(out.size()));
  return Value::String(std::move(out));
}

absl::StatusOr<Value> StrFind(const Value& self, Arguments& args, absl::string_view fn) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments(fn, args, {"sub"}, &a));
  INFER_ASSIGN_OR_RETURN(std::string sub, ExpectString(a[0], "substring"));
  const std::string& s = self.string_value();
  if (fn == "count") {
    if (sub.empty()) return Value::Int(static_cast<int64_t>(CodePointLength(s)) + 1);
    int64_t n = 0;
    for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
    return Value::Int(n);
  }
  const size_t at = fn == "rfind" || fn == "rindex" ? s.rfind(sub) : s.find(sub);
  if (at == std::string::npos) {
    if (fn == "index" || fn == "rindex") return absl::InvalidArgumentError("substring not found");
    return Value::Int(-1);
  }
  return Value::Int(CodePointIndex(s, at));
}

absl::StatusOr<Value> StrJoin(Interpreter& interp, const Value& self, Arguments& args) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments("join", args, {"iterable"}, &a));
  INFER_ASSIGN_OR_RETURN(ValueList items, Iterate(a[0]));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sequence item ", i, ": expected str instance, ", TypeName(items[i]), " found"));
    }
    if (i > 0) out += self.string_value();
    out += items[i].string_value();
    INFER_RETURN_IF_ERROR(interp.CheckStringSize(out.size()));
  }
  return Value::String(std::move(out));
}

// str.format with `{}`, `{0}`, `{name}` and `{{`/`}}` (no format specs or conversions).
absl::StatusOr<Value> StrFormat(Interpreter& interp, const Value& self, Arguments& args) {
  const std::string& s = self.string_value();
  std::string out;
  size_t next_auto = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '}') {
      if (i + 1 < s.size() && s[i + 1] == '}') ++i;
      out.push_back('}');
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < s.size() && s[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    const size_t close = s.find('}', i);
    if (close == std::string::npos) {
      return absl::InvalidArgumentError("single '{' encountered in format string");
    }
    const std::string field = s.substr(i + 1, close - i - 1);
    if (field.find_first_of(":!.[") != std::string::npos) {
      return absl::InvalidArgumentError("format specs and conversions are not supported");
    }
    const Value* value = nullptr;
    if (field.empty() || std::all_of(field.begin(), field.end(), ::isdigit)) {
      const size_t index = field.empty() ? next_auto++ : std::stoul(field);
      if (index >= args.positional.size()) {
        return absl::InvalidArgumentError("replacement index out of range for format()");
      }
      value = &args.positional[index];
    } else {
      for (const auto& [key, v] : args.keyword) {
        if (key == field) value = &v;
      }
      if (value == nullptr)
        return absl::InvalidArgumentError(absl::StrCat("KeyError: '", field, "'"));
    }
    out += ToPyStr(*value);
    INFER_RETURN_IF_ERROR(interp.CheckStringSize(out.size()));
    i = close;
  }
  return Value::String(std::move(out));
}

template <bool (*Pred)(uint32_t)>
absl::StatusOr<Value> StrIs(Interpreter&, const Value& self, Arguments&) {
  const std::vector<uint32_t> cps = DecodeCodePoints(self.string_value());
  if (cps.empty()) return Value::Bool(false);
  return Value::Bool(std::all_of(cps.begin(), cps.end(), Pred));
}
bool IsDigitCp(uint32_t c) { return (CodePointClass(c) & kCpNumber) != 0; }
bool IsAlphaCp(uint32_t c) { return (CodePointClass(c) & kCpLetter) != 0; }
bool IsAlnumCp(uint32_t c) { return IsDigitCp(c) || IsAlphaCp(c); }

const MethodEntry kStringMethods[] = {
    {"strip",
     [](Interpreter&, const Value& s, Arguments& a) { return StrStrip("strip", true, true, s, a); },
     false},
    {"lstrip",
     [](Interpreter&, const Value& s, Arguments& a) {
       return StrStrip("lstrip", true, false, s, a);
     },
     false},
    {"rstrip",
     [](Interpreter&, const Value& s, Arguments& a) {
       return StrStrip("rstrip", false, true, s, a);
     },
     false},
    {"split", [](Interpreter& i, const Value& s, Arguments& a) { return StrSplit(i, s, a, false); },
     false},
    {"rsplit", [](Interpreter& i, const Value& s, Arguments& a) { return StrSplit(i, s, a, true); },
     false},
    {"splitlines",
     [](Interpreter& interp, const Value& s, Arguments& a) -> absl::StatusOr<Value> {
       ValueList lines;
       const std::string& text = s.string_value();
       size_t start = 0;
       for (size_t i = 0; i < text.size(); ++i) {
         if (text[i] == '\n' || text[i] == '\r') {
           lines.push_back(Value::String(text.substr(start, i - start)));
           if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
           start = i + 1;
         }
       }
       if (start < text.size()) lines.push_back(Value::String(text.substr(start)));
       INFER_RETURN_IF_ERROR(interp.CountIterations(static_cast<int64_t>(lines.size())));
       return Value::List(std::move(lines));
     },
     false},
    {"startswith", [](Interpreter&, const Value& s, Arguments& a) { return StrAffix(s, a, true); },
     false},
    {"endswith", [](Interpreter&, const Value& s, Arguments& a) { return StrAffix(s, a, false); },
     false},
    {"upper",
     [](Interpreter&, const Value& s, Arguments&) -> absl::StatusOr<Value> {
       return Value::String(PyUpper(s.string_value()));
     },
     false},
    {"lower",
     [](Interpreter&, const Value& s, Arguments&) -> absl::StatusOr<Value> {
       return Value::String(PyLower(s.string_value()));
     },
     false},
    {"title",
     [](Interpreter&, const Value& s, Arguments&) -> absl::StatusOr<Value> {
       return Value::String(PyTitle(s.string_value()));
     },
     false},
    {"capitalize",
     [](Interpreter&, const Value& s, Arguments&) -> absl::StatusOr<Value> {
       return Value::String(PyCapitalize(s.string_value()));
     },
     false},
    {"replace", StrReplace, false},
    {"find", [](Interpreter&, const Value& s, Arguments& a) { return StrFind(s, a, "find"); },
     false},
    {"rfind", [](Interpreter&, const Value& s, Arguments& a) { return StrFind(s, a, "rfind"); },
     false},
    {"index", [](Interpreter&, const Value& s, Arguments& a) { return StrFind(s, a, "index"); },
     false},
    {"rindex", [](Interpreter&, const Value& s, Arguments& a) { return StrFind(s, a, "rindex"); },
     false},
    {"count", [](Interpreter&, const Value& s, Arguments& a) { return StrFind(s, a, "count"); },
     false},
    {"join", StrJoin, false},
    {"format", StrFormat, false},
    {"isdigit", StrIs<IsDigitCp>, false},
    {"isalpha", StrIs<IsAlphaCp>, false},
    {"isalnum", StrIs<IsAlnumCp>, false},
    {"isspace", StrIs<IsPySpace>, false},
};

// ---- list methods ----

absl::StatusOr<Value> ListIndexOrCount(const Value& self, Arguments& args, bool count) {
  std::vector<Value> a;
  INFER_RETURN_IF_ERROR(BindArguments(count ? "count" : "index", args, {"value"}, &a));
  int64_t n = 0;
  const ValueList& items = self.list();
  for (size_t i = 0; i < items.size(); ++i) {
    if (!Equals(items[i], a[0])) continue;
    if (!count) return Value::Int(static_cast<int64_t>(i));
    ++n;
  }
  if (!count) return absl::InvalidArgumentError("value is not in list");
  return Value::Int(n);
}

const MethodEntry kListMethods[] = {
    {"index",
     [](Interpreter&, const Value& s, Arguments& a) { return ListIndexOrCount(s, a, false); },
     false},
    {"count",
     [](Interpreter&, const Value& s, Arguments& a) { return ListIndexOrCount(s, a, true); },
     false},
    {"append",
     [](Interpreter& interp, const Value& s, Arguments& a) -> absl::StatusOr<Value> {
       std::vector<Value> v;
       INFER_RETURN_IF_ERROR(BindArguments("append", a, {"object"}, &v));
       INFER_RETURN_IF_ERROR(interp.CountIterations(1));
       s.list().push_back(std::move(v[0]));
       return Value::None();
     },
     true},
    {"extend",
     [](Interpreter& interp, const Value& s, Arguments& a) -> absl::StatusOr<Value> {
       std::vector<Value> v;
       INFER_RETURN_IF_ERROR(BindArguments("extend", a, {"iterable"}, &v));
       INFER_ASSIGN_OR_RETURN(ValueList items, Iterate(v[0]));
       INFER_RETURN_IF_ERROR(interp.CountIterations(static_cast<int64_t>(items.size())));
       s.list().insert(s.list().end(), items.begin(), items.end());
       return Value::None();
     },
     true},
    {"pop",
     [](Interpreter&, const Value& s, Arguments& a) -> absl::StatusOr<Value> {
       std::vector<Value> v;
       INFER_RETURN_IF_ERROR(BindArguments("pop", a, {"index"}, &v));
       ValueList& items = s.list();
       int64_t index = -1;
       if (!v[0].is_undefined()) {
         INFER_ASSIGN_OR_RETURN(index, ExpectInt(v[0], "index"));
       }
       const int64_t n = static_cast<int64_t>(items.size());
       if (index < 0) index += n;
       if (index < 0 || index >= n) return absl::InvalidArgumentError("pop index out of range");
       Value out = items[static_cast<size_t>(index)];
       items.erase(items.begin() + index);
       return out;
     },
     true},
    {"insert",
     [](Interpreter& interp, const Value& s, Arguments& a) -> absl::StatusOr<Value> {
       std::vector<Value> v;
       INFER_RETURN_IF_ERROR(BindArguments("insert", a, {"index", "object"}, &v));
       INFER_ASSIGN_OR_RETURN(int64_t index, ExpectInt(v[0], "index"));
       INFER_RETURN_IF_ERROR(interp.CountIterations(1));
       ValueList& items = s.list();
       const int64_t n = static_cast<int64_t>(items.size());
       if (index < 0) index = std::max<int64_t>(0, index + n);
       index = std::min(index, n);
       items.insert(items.begin() + index, std::move(v[1]));
       return Value::None();
     },
     true},
    {"clear",
     [](Interpreter&, const Value& s, Arguments&) -> absl::StatusOr<Value> {
       s.list().clear();
       return Value::None();
     },
     true},
};

// ---- dict methods ----

ValueList DictItems(const Value& self, int which) {
  ValueList out;
  for (const auto& [k, v] : self.dict().items()) {
    if (which == 0) out.push_back(k);
    if (which == 1) out.push_back(v);
    if (which == 2) out.push_back(Value::Tuple({k, v}));
  }
  return out;
}

const MethodEntry kDictMethods[] = {
    {"items",
     [](Interpreter&, const Value& s, Arguments&) -> absl::StatusOr<Value> {
       return Value::List(DictItems(s, 2));
     },
     false},
    {"keys",
     [](Interpreter&, const Value& s, Arguments&) -> absl::StatusOr<Value> {
       return Value::List(DictItems(s, 0));
     },
     false},
    {"values",
     [](Interpreter&, const Value& s, Arguments&) -> absl::StatusOr<Value> {
       return Value::List(DictItems(s, 1));
     },
     false},
    {"get",
     [](Interpreter&, const Value& s, Arguments& a) -> absl::StatusOr<Value> {
       std::vector<Value> v;
       INFER_RETURN_IF_ERROR(BindArguments("get", a, {"key", "default"}, &v));
       const Value* found = s.dict().Find(v[0]);
       if (found != nullptr) return *found;
       return v[1].is_undefined() ? Value::None() : v[1];
     },
     false},
    {"copy",
     [](Interpreter& interp, const Value& s, Arguments&) -> absl::StatusOr<Value> {
       Value out = Value::NewDict();
       for (const auto& [k, v] : s.dict().items()) out.dict().Set(k, v);
       if (interp.options().allow_mutation) interp.Track(out);
       return out;
     },
     false},
    {"pop",
     [](Interpreter&, const Value& s, Arguments& a) -> absl::StatusOr<Value> {
       std::vector<Value> v;
       INFER_RETURN_IF_ERROR(BindArguments("pop", a, {"key", "default"}, &v));
       const Value* found = s.dict().Find(v[0]);
       if (found == nullptr) {
         if (!v[1].is_undefined()) return v[1];
         return absl::InvalidArgumentError(absl::StrCat("KeyError: ", ToPyRepr(v[0])));
       }
       Value out = *found;
       s.dict().Erase(v[0]);
       return out;
     },
     true},
    {"update",
     [](Interpreter&, const Value& s, Arguments& a) -> absl::StatusOr<Value> {
       for (const Value& other : a.positional) {
         if (!other.is_dict()) return absl::InvalidArgumentError("update() expects a dict");
         for (const auto& [k, v] : other.dict().items()) s.dict().Set(k, v);
       }
       for (auto& [k, v] : a.keyword) s.dict().Set(Value::String(k), v);
       return Value::None();
     },
     true},
    {"setdefault",
     [](Interpreter&, const Value& s, Arguments& a) -> absl::StatusOr<Value> {
       std::vector<Value> v;
       INFER_RETURN_IF_ERROR(BindArguments("setdefault", a, {"key", "default"}, &v));
       if (const Value* found = s.dict().Find(v[0])) return *found;
       Value value = v[1].is_undefined() ? Value::None() : v[1];
       s.dict().Set(v[0], value);
       return value;
     },
     true},
};

template <size_t N>
const MethodEntry* FindIn(const MethodEntry (&table)[N], std::string_view name) {
  for (const MethodEntry& e : table) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

// A bound method of `object`, null when it has none of that name.
absl::StatusOr<Value> BoundMethod(Interpreter& interp, const Value& object, const std::string& name,
                                  bool* found) {
  const MethodEntry* entry = nullptr;
  if (object.is_string()) entry = FindIn(kStringMethods, name);
  if (object.is_sequence()) entry = FindIn(kListMethods, name);
  if (object.is_dict()) entry = FindIn(kDictMethods, name);
  *found = entry != nullptr;
  if (entry == nullptr) return Value();
  if (entry->mutates &&
      (!interp.options().allow_mutation || object.kind() == Value::Kind::kTuple)) {
    return absl::PermissionDeniedError(absl::StrCat("access to attribute '", name, "' of '",
                                                    TypeName(object),
                                                    "' object is unsafe (templates are "
                                                    "rendered in an immutable sandbox)"));
  }
  const Method method = entry->method;
  return Value::MakeFunction(
      name, [object, method](Interpreter& i, Arguments& args) { return method(i, object, args); });
}

std::string NoAttributeHint(const Value& object, absl::string_view name) {
  if (object.is_none()) return absl::StrCat("'None' has no attribute '", name, "'");
  return absl::StrCat("'", TypeName(object), " object' has no attribute '", name, "'");
}

}  // namespace

absl::Status BindArguments(absl::string_view function, Arguments& args,
                           std::initializer_list<std::string_view> names,
                           std::vector<Value>* bound) {
  bound->assign(names.size(), Value());
  if (args.positional.size() > names.size()) {
    return absl::InvalidArgumentError(absl::StrCat(function, "() takes at most ", names.size(),
                                                   " arguments (", args.positional.size(),
                                                   " given)"));
  }
  for (size_t i = 0; i < args.positional.size(); ++i) (*bound)[i] = std::move(args.positional[i]);
  for (auto& [key, value] : args.keyword) {
    const auto it = std::find(names.begin(), names.end(), key);
    if (it == names.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(function, "() got an unexpected keyword argument '", key, "'"));
    }
    const size_t index = static_cast<size_t>(it - names.begin());
    if (index < args.positional.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(function, "() got multiple values for argument '", key, "'"));
    }
    (*bound)[index] = std::move(value);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ExpectString(const Value& v, absl::string_view what) {
  if (!v.is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be str, not ", TypeName(v)));
  }
  return v.string_value();
}

absl::StatusOr<int64_t> ExpectInt(const Value& v, absl::string_view what) {
  if (v.is_int() || v.is_bool()) return v.AsInt();
  return absl::InvalidArgumentError(absl::StrCat(what, " must be an integer, not ", TypeName(v)));
}

absl::StatusOr<Value> GetAttribute(Interpreter& interp, const Value& object,
                                   const std::string& name) {
  if (object.is_undefined()) return UndefinedError(object);
  bool found = false;
  INFER_ASSIGN_OR_RETURN(Value method, BoundMethod(interp, object, name, &found));
  if (found) return method;
  if (object.is_dict() || object.is_attribute_bag()) {
    if (const Value* v = object.dict().FindString(name)) return *v;
  }
  return Value::Undefined(NoAttributeHint(object, name));
}

absl::StatusOr<Value> GetItem(Interpreter& interp, const Value& object, const Value& key) {
  if (object.is_undefined()) return UndefinedError(object);
  if (object.is_dict()) {
    if (const Value* v = object.dict().Find(key)) return *v;
  } else if ((object.is_sequence() || object.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t index = key.AsInt();
    if (object.is_string()) {
      const std::vector<uint32_t> cps = DecodeCodePoints(object.string_value());
      const int64_t n = static_cast<int64_t>(cps.size());
      if (index < 0) index += n;
      if (index >= 0 && index < n)
        return Value::String(EncodeCodePoints({cps[static_cast<size_t>(index)]}));
    } else {
      const int64_t n = static_cast<int64_t>(object.list().size());
      if (index < 0) index += n;
      if (index >= 0 && index < n) return object.list()[static_cast<size_t>(index)];
    }
    return Value::Undefined(absl::StrCat(TypeName(object), " object has no element ", key.AsInt()));
  }
  if (key.is_string()) {
    bool found = false;
    INFER_ASSIGN_OR_RETURN(Value method, BoundMethod(interp, object, key.string_value(), &found));
    if (found) return method;
    if (object.is_attribute_bag()) {
      if (const Value* v = object.dict().FindString(key.string_value())) return *v;
    }
    return Value::Undefined(NoAttributeHint(object, key.string_value()));
  }
  return Value::Undefined(
      absl::StrCat("'", TypeName(object), " object' has no item ", ToPyRepr(key)));
}

absl::StatusOr<Value> GetSlice(const Value& object, const Value& start_v, const Value& stop_v,
                               const Value& step_v) {
  if (object.is_undefined()) return UndefinedError(object);
  if (!object.is_string() && !object.is_sequence()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", TypeName(object), "' object is not subscriptable"));
  }
  const auto given = [](const Value& v) { return !v.is_undefined() && !v.is_none(); };
  int64_t step = 1;
  if (given(step_v)) {
    INFER_ASSIGN_OR_RETURN(step, ExpectInt(step_v, "slice step"));
  }
  if (step == 0) return absl::InvalidArgumentError("slice step cannot be zero");
  std::vector<uint32_t> cps;
  if (object.is_string()) cps = DecodeCodePoints(object.string_value());
  const int64_t n = static_cast<int64_t>(object.is_string() ? cps.size() : object.list().size());
  const auto adjust = [&](const Value& v, int64_t def, int64_t* out) -> absl::Status {
    if (!given(v)) {
      *out = def;
      return absl::OkStatus();
    }
    INFER_ASSIGN_OR_RETURN(int64_t i, ExpectInt(v, "slice index"));
    if (i < 0) {
      i += n;
      if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= n) {
      i = step < 0 ? n - 1 : n;
    }
    *out = i;
    return absl::OkStatus();
  };
  int64_t start = 0;
  int64_t stop = 0;
  INFER_RETURN_IF_ERROR(adjust(start_v, step < 0 ? n - 1 : 0, &start));
  INFER_RETURN_IF_ERROR(adjust(stop_v, step < 0 ? -1 : n, &stop));
  std::vector<size_t> picked;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    picked.push_back(static_cast<size_t>(i));
  }
  if (object.is_string()) {
    std::vector<uint32_t> out;
    out.reserve(picked.size());
    for (size_t i : picked) out.push_back(cps[i]);
    return Value::String(EncodeCodePoints(out));
  }
  ValueList out;
  out.reserve(picked.size());
  for (size_t i : picked) out.push_back(object.list()[i]);
  return object.kind() == Value::Kind::kTuple ? Value::Tuple(std::move(out))
                                              : Value::List(std::move(out));
}

absl::StatusOr<ValueList> Iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return v.list();
    case Value::Kind::kDict: {
      ValueList keys;
      keys.reserve(v.dict().size());
      for (const auto& [k, value] : v.dict().items()) keys.push_back(k);
      return keys;
    }
    case Value::Kind::kString: {
      ValueList chars;
      for (uint32_t c : DecodeCodePoints(v.string_value())) {
        chars.push_back(Value::String(EncodeCodePoints({c})));
      }
      return chars;
    }
    case Value::Kind::kUndefined:
      return ValueList{};
    default:
      return absl::InvalidArgumentError(absl::StrCat("'", TypeName(v), "' object is not iterable"));
  }
}

}  // namespace infer::jinja
