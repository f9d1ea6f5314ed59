// Values of the chat-template language (a Jinja subset): a small variant with Python's semantics,
// because the reference renderer is Python's jinja2 and templates are written against it.
//
// Kinds: undefined (jinja2's default Undefined: prints as "", is falsy, iterates as empty), None,
// bool, int (int64; Python's unbounded ints become an overflow error), float, str (UTF-8; length,
// indexing and slicing count code points), list, tuple, dict (insertion-ordered like Python's),
// namespace (mutable attribute bag made by namespace()), object (read-only attribute bag such as
// `loop`) and function (globals, bound methods, macros).
//
// Lists, dicts and namespaces have reference semantics (copies share storage, as Python names
// do); strings and scalars are values. Nothing here is thread-safe: one Value graph belongs to one
// render.
#ifndef INFER_JINJA_VALUE_H_
#define INFER_JINJA_VALUE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace infer::jinja {

class Value;
class Interpreter;  // interpreter.h

using ValueList = std::vector<Value>;

// Arguments of a call, filter or test (the filter's or test's input excluded).
struct Arguments {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// A callable: builtin globals, bound methods (`s.strip`), macros.
struct Function {
  std::string name;
  std::function<absl::StatusOr<Value>(Interpreter&, Arguments&)> call;
};

class Dict;

class Value {
 public:
  enum class Kind : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kTuple,
    kDict,
    kNamespace,
    kObject,
    kFunction,
  };

  // Undefined, with a hint for error messages ("'foo' is undefined").
  Value() = default;
  static Value Undefined(std::string hint);
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double d);
  static Value String(std::string s);
  static Value List(ValueList items = {});
  static Value Tuple(ValueList items);
  static Value NewDict();
  static Value NewNamespace();
  static Value NewObject();
  static Value MakeFunction(std::string name,
                            std::function<absl::StatusOr<Value>(Interpreter&, Arguments&)> call);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  // int, float or bool (Python's bool is an int).
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return kind_ == Kind::kString; }
  // list or tuple.
  bool is_sequence() const { return kind_ == Kind::kList || kind_ == Kind::kTuple; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  // namespace or object: attribute bags stored as a Dict.
  bool is_attribute_bag() const { return kind_ == Kind::kNamespace || kind_ == Kind::kObject; }
  bool is_function() const { return kind_ == Kind::kFunction; }

  // Accessors; each requires the matching kind.
  bool bool_value() const { return std::get<bool>(data_); }
  int64_t int_value() const { return std::get<int64_t>(data_); }
  double float_value() const { return std::get<double>(data_); }
  const std::string& string_value() const { return std::get<std::string>(data_); }
  // The hint of an undefined value (may be empty).
  const std::string& undefined_hint() const { return std::get<std::string>(data_); }
  ValueList& list() const { return *std::get<std::shared_ptr<ValueList>>(data_); }
  Dict& dict() const { return *std::get<std::shared_ptr<Dict>>(data_); }
  const Function& function() const { return *std::get<std::shared_ptr<const Function>>(data_); }
  // int or bool as an integer; float for float. Requires is_number().
  int64_t AsInt() const { return is_bool() ? (bool_value() ? 1 : 0) : int_value(); }
  double AsFloat() const;
  // Identity of shared storage (lists, dicts, namespaces, functions), for `is sameas`.
  const void* identity() const;

 private:
  Kind kind_ = Kind::kUndefined;
  std::variant<std::string, bool, int64_t, double, std::shared_ptr<ValueList>,
               std::shared_ptr<Dict>, std::shared_ptr<const Function>>
      data_;
};

// An insertion-ordered mapping with Python's key equality (1, 1.0 and True are one key). Keys
// are scalars (None, bool, int, float, str); string keys are indexed by hash, others scanned.
class Dict {
 public:
  const Value* Find(const Value& key) const;
  Value* Find(const Value& key);
  const Value* FindString(std::string_view key) const;
  // Inserts or replaces, keeping the original position of an existing key.
  void Set(Value key, Value value);
  bool Erase(const Value& key);
  void Clear();
  size_t size() const { return items_.size(); }
  const std::vector<std::pair<Value, Value>>& items() const { return items_; }

 private:
  static constexpr size_t kNotFound = static_cast<size_t>(-1);
  size_t FindIndex(const Value& key) const;
  void Reindex();

  std::vector<std::pair<Value, Value>> items_;
  absl::flat_hash_map<std::string, size_t> string_index_;
};

// Containers nested deeper than this are refused (conversion from JSON, printing, comparison).
inline constexpr int kMaxValueDepth = 256;

// Python's truthiness (undefined is falsy; functions and attribute bags are truthy).
bool Truthy(const Value& v);

// Python's `==` (1 == 1.0 == True; lists element-wise; dicts by content; undefined equals
// undefined; functions, namespaces and objects by identity).
bool Equals(const Value& a, const Value& b);

// Python's ordering: -1, 0, 1 for a < b, a == b, a > b; TypeError for kinds Python cannot order
// ('<' not supported between instances of 'int' and 'str').
absl::StatusOr<int> Compare(const Value& a, const Value& b);

// Python's type name ("int", "str", "list", "dict", "NoneType", ...) for error messages.
std::string TypeName(const Value& v);

// Python's str(): what `{{ v }}` prints. Undefined prints "".
std::string ToPyStr(const Value& v);
// Python's repr() (strings quoted and escaped as Python does).
std::string ToPyRepr(const Value& v);
// Python's repr() of a float: shortest round-trip digits, "1.0", "1e+16", "inf", "nan".
std::string FloatRepr(double d);

// json.dumps options (Hugging Face's tojson filter passes them through).
struct JsonDumpOptions {
  // Escape every non-ASCII character as \uXXXX (json.dumps's default; HF's tojson sets false).
  bool ensure_ascii = false;
  // Pretty-print with this indentation; negative for none (single line).
  int indent = -1;
  // The indentation text when given as a string (overrides `indent` when set).
  std::string indent_string;
  bool has_indent_string = false;
  // Separators; defaults are json.dumps's (", " / ": ", or "," / ": " with an indent).
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  // Sort dict keys (json.dumps's sort_keys).
  bool sort_keys = false;
};

// json.dumps(v): InvalidArgument for values JSON cannot hold (undefined, functions, namespaces,
// non-string keys that json.dumps would also refuse, over-deep nesting).
absl::StatusOr<std::string> DumpJson(const Value& v, const JsonDumpOptions& options);

// JSON → Value: objects become dicts in document order, arrays lists, numbers int or float.
// InvalidArgument when nested deeper than kMaxValueDepth.
absl::StatusOr<Value> FromJson(const nlohmann::ordered_json& json);

// ---- UTF-8 strings with Python's code-point semantics (strings.cc) -----------

// True for the code points U+DC80..U+DCFF that DecodeCodePoints uses for invalid bytes.
bool IsEscapedByte(uint32_t cp);
// Appends `cp` as UTF-8, or as the raw byte it stands for when IsEscapedByte(cp).
void AppendCodePoint(uint32_t cp, std::string* out);

// Decodes `s` into code points; a byte that is not valid UTF-8 becomes one code point of its
// own value (so odd input is kept, never rejected).
std::vector<uint32_t> DecodeCodePoints(std::string_view s);
std::string EncodeCodePoints(const std::vector<uint32_t>& cps);
// Number of code points (invalid bytes count one each).
size_t CodePointLength(std::string_view s);
// Python's str.isspace() for one code point.
bool IsPySpace(uint32_t cp);
// str.strip()/lstrip()/rstrip(): `chars` null strips whitespace, otherwise those code points.
std::string PyStrip(std::string_view s, const std::string* chars, bool left, bool right);
// Python's str.upper()/lower() for ASCII, Latin-1, Greek and Cyrillic letters; other code
// points pass through.
std::string PyUpper(std::string_view s);
std::string PyLower(std::string_view s);

}  // namespace infer::jinja

#endif  // INFER_JINJA_VALUE_H_
