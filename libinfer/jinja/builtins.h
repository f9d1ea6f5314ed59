// Builtins of the chat-template language: filters (jinja2's plus Hugging Face's tojson), tests,
// globals (range, dict, namespace, raise_exception, strftime_now), attribute and item access,
// and the Python methods of str, list and dict that templates call (`s.strip()`,
// `d.items()`, ...). Split across filters.cc (filters, tests), methods.cc
// (access, methods) and globals.cc.
#ifndef INFER_JINJA_BUILTINS_H_
#define INFER_JINJA_BUILTINS_H_

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libinfer/jinja/ast.h"
#include "libinfer/jinja/value.h"

namespace infer::jinja {

// The filter or test of that name, null when there is none.
FilterFn FindFilter(std::string_view name);
TestFn FindTest(std::string_view name);

// The global functions every render starts with.
std::vector<std::pair<std::string, Value>> BuiltinGlobals();

// `object.name` with jinja2's rules: a method or attribute first, then the item `name`;
// undefined when neither exists. UndefinedError when `object` is undefined.
absl::StatusOr<Value> GetAttribute(Interpreter& interp, const Value& object,
                                   const std::string& name);
// `object[key]`: the item first, then (for string keys) the attribute; undefined when missing.
absl::StatusOr<Value> GetItem(Interpreter& interp, const Value& object, const Value& key);
// `object[start:stop:step]` on str, list or tuple (bounds may be none/undefined).
absl::StatusOr<Value> GetSlice(const Value& object, const Value& start, const Value& stop,
                               const Value& step);

// The items a `for` loop (or a filter) iterates: a list's items, a dict's keys, a string's
// characters; nothing for undefined. TypeError for other kinds.
absl::StatusOr<ValueList> Iterate(const Value& v);

// Binds `args` to the parameters `names` in order (positional first, then by keyword), as a
// Python call would; unfilled parameters are left undefined. InvalidArgument for too many
// positional arguments or an unknown or repeated keyword.
absl::Status BindArguments(absl::string_view function, Arguments& args,
                           std::initializer_list<std::string_view> names,
                           std::vector<Value>* bound);

// A value that must be a str; `what` names it in the error.
absl::StatusOr<std::string> ExpectString(const Value& v, absl::string_view what);
// A value that must be an int (bool counts, as in Python); `what` names it in the error.
absl::StatusOr<int64_t> ExpectInt(const Value& v, absl::string_view what);

}  // namespace infer::jinja

#endif  // INFER_JINJA_BUILTINS_H_
