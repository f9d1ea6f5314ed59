// Interpreter of the chat-template language: renders a parsed Program against a set of global
// variables with jinja2's semantics (scoping, loop variables, macros, undefined values) and
// Python's operators. Every failure is a Status; resource use is bounded by
// InterpreterOptions (output size, loop iterations, call depth).
//
// One Interpreter renders one template once; it is not thread-safe, but many may render the
// same (immutable) Program concurrently.
#ifndef INFER_JINJA_INTERPRETER_H_
#define INFER_JINJA_INTERPRETER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libinfer/jinja/ast.h"
#include "libinfer/jinja/value.h"

namespace infer::jinja {

struct InterpreterOptions {
  // Largest output, and largest single string value, in bytes (ResourceExhausted beyond).
  size_t max_output_bytes = 16 << 20;
  // Most loop iterations in one render, all loops together; also bounds the length of lists
  // the template builds (range(), repetition). ResourceExhausted beyond.
  int64_t max_iterations = 1 << 20;
  // Deepest macro call nesting (macros may call themselves). ResourceExhausted beyond.
  int max_call_depth = 32;
  // Allow methods that mutate lists and dicts (append, pop, update, ...). jinja2's immutable
  // sandbox, which Hugging Face renders chat templates in, refuses them.
  bool allow_mutation = false;
  // Clock of strftime_now(); null means the system clock. Times are formatted in local time.
  std::function<std::chrono::system_clock::time_point()> now;
};

// Status payload marking an error whose message is final (already located, or raised by the
// template's raise_exception()).
inline constexpr char kLocatedPayload[] = "infer.jinja.located";

class Interpreter {
 public:
  explicit Interpreter(const InterpreterOptions& options) : options_(options) {}
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Renders `program` with `globals` (a dict: the template's variables; builtins such as
  // range() and namespace() are added beneath them).
  absl::StatusOr<std::string> Render(const Program& program, const Value& globals);

  // ---- for builtins (jinja_builtins) ----
  const InterpreterOptions& options() const { return options_; }
  // Calls a function value with evaluated arguments.
  absl::StatusOr<Value> Call(const Value& callee, Arguments& args);
  // ResourceExhausted when a string of `bytes` bytes would exceed max_output_bytes.
  absl::Status CheckStringSize(size_t bytes) const;
  // ResourceExhausted when building `count` more elements/iterations exceeds max_iterations.
  absl::Status CountIterations(int64_t count);
  // Keeps a namespace or mutable container to be emptied when the render ends, which breaks
  // any reference cycle a template made through it.
  void Track(const Value& container) { tracked_.push_back(container); }

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  using Frame = absl::flat_hash_map<std::string, Value>;

  absl::StatusOr<Flow> ExecBody(const Body& body);
  absl::StatusOr<Flow> Exec(const Node& node);
  absl::StatusOr<Flow> ExecFor(const Node& node);
  absl::Status ExecMacroDefinition(const Node& node);
  absl::Status Assign(const AssignTarget& target, Value value);
  absl::StatusOr<std::string> Capture(const Body& body);
  absl::StatusOr<Value> CallMacro(const Node& macro, Arguments& args);

  absl::StatusOr<Value> Eval(const Expr& expr);
  absl::StatusOr<Value> EvalUnlocated(const Expr& expr);
  absl::StatusOr<Value> EvalFilter(const Expr& expr, const Value* block_input);
  absl::Status EvalArgs(const CallArgs& call, Arguments* args);
  Value Lookup(const std::string& name) const;
  absl::Status Emit(std::string_view text);

  const InterpreterOptions options_;
  std::string* out_ = nullptr;
  std::vector<Frame*> scopes_;  // innermost last; scopes_[0] is the template's root frame
  int64_t iterations_ = 0;
  int call_depth_ = 0;
  std::vector<Value> tracked_;
};

// Python's binary operators (+ - * / // % ** ~) on values; TypeError-like InvalidArgument for
// unsupported operand kinds, errors for undefined operands, division by zero and int64
// overflow.
absl::StatusOr<Value> BinaryOperation(Interpreter& interp, BinaryOp op, const Value& a,
                                      const Value& b);
// Python's `item in container`.
absl::StatusOr<bool> Contains(const Value& container, const Value& item);
// The error jinja2 raises when an undefined value is used as more than a string or boolean.
absl::Status UndefinedError(const Value& undefined);

}  // namespace infer::jinja

#endif  // INFER_JINJA_INTERPRETER_H_
