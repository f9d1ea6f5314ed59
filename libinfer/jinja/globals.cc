// The global functions: range, dict, namespace, and Hugging Face's raise_exception and
// strftime_now.
#include <chrono>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libinfer/jinja/builtins.h"
#include "libinfer/jinja/interpreter.h"
#include "libinfer/util/status_macros.h"

namespace infer::jinja {
namespace {

// jinja2's sandbox caps range() at this many items.
constexpr int64_t kMaxRange = 100000;

}  // namespace

std::vector<std::pair<std::string, Value>> BuiltinGlobals() {
  std::vector<std::pair<std::string, Value>> g;
  g.emplace_back(
      "range",
      Value::MakeFunction(
          "range", [](Interpreter& interp, Arguments& args) -> absl::StatusOr<Value> {
            if (!args.keyword.empty())
              return absl::InvalidArgumentError("range() takes no keyword arguments");
            if (args.positional.empty() || args.positional.size() > 3) {
              return absl::InvalidArgumentError("range expected 1 to 3 arguments");
            }
            int64_t bounds[3] = {0, 0, 1};
            for (size_t i = 0; i < args.positional.size(); ++i) {
              INFER_ASSIGN_OR_RETURN(bounds[i], ExpectInt(args.positional[i], "range() argument"));
            }
            int64_t start = 0, stop = bounds[0], step = 1;
            if (args.positional.size() >= 2) {
              start = bounds[0];
              stop = bounds[1];
            }
            if (args.positional.size() == 3) step = bounds[2];
            if (step == 0) return absl::InvalidArgumentError("range() arg 3 must not be zero");
            const __int128 span = step > 0 ? static_cast<__int128>(stop) - start
                                           : static_cast<__int128>(start) - stop;
            const __int128 abs_step = step > 0 ? step : -static_cast<__int128>(step);
            const __int128 count = span <= 0 ? 0 : (span + abs_step - 1) / abs_step;
            if (count > kMaxRange) {
              return absl::ResourceExhaustedError(absl::StrCat("range too big: at most ", kMaxRange,
                                                               " items (jinja2's sandbox limit)"));
            }
            INFER_RETURN_IF_ERROR(interp.CountIterations(static_cast<int64_t>(count)));
            ValueList items;
            items.reserve(static_cast<size_t>(count));
            for (int64_t i = 0; i < static_cast<int64_t>(count); ++i)
              items.push_back(Value::Int(start + i * step));
            return Value::List(std::move(items));
          }));
  const auto make_dict = [](Interpreter& interp, Arguments& args, Value out,
                            absl::string_view fn) -> absl::StatusOr<Value> {
    if (args.positional.size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat(fn, "() takes at most 1 positional argument"));
    }
    if (args.positional.size() == 1) {
      const Value& init = args.positional[0];
      if (init.is_dict()) {
        for (const auto& [k, v] : init.dict().items()) out.dict().Set(k, v);
      } else {
        INFER_ASSIGN_OR_RETURN(ValueList pairs, Iterate(init));
        for (const Value& p : pairs) {
          if (!p.is_sequence() || p.list().size() != 2) {
            return absl::InvalidArgumentError(absl::StrCat(fn, "(): items must be pairs"));
          }
          out.dict().Set(p.list()[0], p.list()[1]);
        }
      }
    }
    for (auto& [k, v] : args.keyword) out.dict().Set(Value::String(k), v);
    if (out.kind() == Value::Kind::kNamespace || interp.options().allow_mutation) interp.Track(out);
    return out;
  };
  g.emplace_back("dict",
                 Value::MakeFunction("dict", [make_dict](Interpreter& interp, Arguments& args) {
                   return make_dict(interp, args, Value::NewDict(), "dict");
                 }));
  g.emplace_back("namespace", Value::MakeFunction("namespace", [make_dict](Interpreter& interp,
                                                                           Arguments& args) {
                   return make_dict(interp, args, Value::NewNamespace(), "namespace");
                 }));
  g.emplace_back(
      "raise_exception",
      Value::MakeFunction(
          "raise_exception", [](Interpreter&, Arguments& args) -> absl::StatusOr<Value> {
            std::vector<Value> a;
            INFER_RETURN_IF_ERROR(BindArguments("raise_exception", args, {"message"}, &a));
            absl::Status error = absl::InvalidArgumentError(ToPyStr(a[0]));
            error.SetPayload(kLocatedPayload, absl::Cord());  // the template's own words
            return error;
          }));
  g.emplace_back(
      "strftime_now",
      Value::MakeFunction(
          "strftime_now", [](Interpreter& interp, Arguments& args) -> absl::StatusOr<Value> {
            std::vector<Value> a;
            INFER_RETURN_IF_ERROR(BindArguments("strftime_now", args, {"format"}, &a));
            INFER_ASSIGN_OR_RETURN(std::string format, ExpectString(a[0], "format"));
            const auto now =
                interp.options().now ? interp.options().now() : std::chrono::system_clock::now();
            const std::time_t t = std::chrono::system_clock::to_time_t(now);
            std::tm tm{};
            localtime_r(&t, &tm);
            if (format.empty()) return Value::String("");
            std::string out(256 + format.size() * 8, '\0');
            const size_t n = std::strftime(out.data(), out.size(), format.c_str(), &tm);
            if (n == 0) return absl::InvalidArgumentError("strftime_now: format too long");
            out.resize(n);
            return Value::String(std::move(out));
          }));
  return g;
}

}  // namespace infer::jinja
