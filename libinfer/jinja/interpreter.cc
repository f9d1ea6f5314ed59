#include "libinfer/jinja/interpreter.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libinfer/jinja/builtins.h"
#include "libinfer/util/status_macros.h"

namespace infer::jinja {
namespace {

bool IsLocated(const absl::Status& s) { return s.GetPayload(kLocatedPayload).has_value(); }

absl::Status Locate(absl::Status s, SourceLocation loc) {
  if (s.ok() || IsLocated(s)) return s;
  absl::Status located(s.code(), absl::StrCat("template error at line ", loc.line, ", column ",
                                              loc.column, ": ", s.message()));
  located.SetPayload(kLocatedPayload, absl::Cord());
  return located;
}

absl::Status TypeError(absl::string_view op, const Value& a, const Value& b) {
  return absl::InvalidArgumentError(absl::StrCat("unsupported operand type(s) for ", op, ": '",
                                                 TypeName(a), "' and '", TypeName(b), "'"));
}

// Python's float floor division and modulo (results take the divisor's sign).
void FloatDivMod(double a, double b, double* div, double* mod) {
  double m = std::fmod(a, b);
  double d = (a - m) / b;
  if (m != 0) {
    if ((b < 0) != (m < 0)) {
      m += b;
      d -= 1.0;
    }
  } else {
    m = std::copysign(0.0, b);
  }
  if (d != 0) {
    double f = std::floor(d);
    if (d - f > 0.5) f += 1.0;
    d = f;
  } else {
    d = std::copysign(0.0, a / b);
  }
  *div = d;
  *mod = m;
}

absl::Status Overflow() { return absl::InvalidArgumentError("integer overflow (beyond 64 bits)"); }

absl::StatusOr<Value> Repeat(Interpreter& interp, const Value& seq, int64_t n) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    const size_t size = seq.string_value().size();
    if (size != 0 && static_cast<uint64_t>(n) > interp.options().max_output_bytes / size) {
      return interp.CheckStringSize(std::numeric_limits<size_t>::max());
    }
    std::string out;
    out.reserve(size * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out += seq.string_value();
    return Value::String(std::move(out));
  }
  const ValueList& items = seq.list();
  if (!items.empty()) {
    if (static_cast<uint64_t>(n) > static_cast<uint64_t>(interp.options().max_iterations)) {
      return interp.CountIterations(std::numeric_limits<int64_t>::max());
    }
    INFER_RETURN_IF_ERROR(interp.CountIterations(static_cast<int64_t>(items.size()) * n));
  }
  ValueList out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return seq.kind() == Value::Kind::kTuple ? Value::Tuple(std::move(out))
                                           : Value::List(std::move(out));
}

}  // namespace

absl::Status UndefinedError(const Value& undefined) {
  return absl::InvalidArgumentError(undefined.undefined_hint().empty()
                                        ? std::string("value is undefined")
                                        : undefined.undefined_hint());
}

// NOLINTNEXTLINE(readability-function-size): the operator dispatcher, one case an operator
absl::StatusOr<Value> BinaryOperation(Interpreter& interp, BinaryOp op, const Value& a,
                                      const Value& b) {
  if (op == BinaryOp::kConcat) {
    std::string s = ToPyStr(a);
    s += ToPyStr(b);
    INFER_RETURN_IF_ERROR(interp.CheckStringSize(s.size()));
    return Value::String(std::move(s));
  }
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  const bool ints = (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
  const bool numbers = a.is_number() && b.is_number();
  switch (op) {
    case BinaryOp::kAdd: {
      if (ints) {
        int64_t r;
        if (__builtin_add_overflow(a.AsInt(), b.AsInt(), &r)) return Overflow();
        return Value::Int(r);
      }
      if (numbers) return Value::Float(a.AsFloat() + b.AsFloat());
      if (a.is_string() && b.is_string()) {
        INFER_RETURN_IF_ERROR(
            interp.CheckStringSize(a.string_value().size() + b.string_value().size()));
        return Value::String(a.string_value() + b.string_value());
      }
      if (a.is_sequence() && a.kind() == b.kind()) {
        INFER_RETURN_IF_ERROR(interp.CountIterations(static_cast<int64_t>(b.list().size())));
        ValueList items = a.list();
        items.insert(items.end(), b.list().begin(), b.list().end());
        return a.kind() == Value::Kind::kTuple ? Value::Tuple(std::move(items))
                                               : Value::List(std::move(items));
      }
      return TypeError("+", a, b);
    }
    case BinaryOp::kSub: {
      if (ints) {
        int64_t r;
        if (__builtin_sub_overflow(a.AsInt(), b.AsInt(), &r)) return Overflow();
        return Value::Int(r);
      }
      if (numbers) return Value::Float(a.AsFloat() - b.AsFloat());
      return TypeError("-", a, b);
    }
    case BinaryOp::kMul: {
      if (ints) {
        int64_t r;
        if (__builtin_mul_overflow(a.AsInt(), b.AsInt(), &r)) return Overflow();
        return Value::Int(r);
      }
      if (numbers) return Value::Float(a.AsFloat() * b.AsFloat());
      if ((a.is_string() || a.is_sequence()) && (b.is_int() || b.is_bool())) {
        return Repeat(interp, a, b.AsInt());
      }
      if ((b.is_string() || b.is_sequence()) && (a.is_int() || a.is_bool())) {
        return Repeat(interp, b, a.AsInt());
      }
      return TypeError("*", a, b);
    }
    case BinaryOp::kDiv: {
      if (!numbers) return TypeError("/", a, b);
      if (b.AsFloat() == 0) return absl::InvalidArgumentError("division by zero");
      return Value::Float(a.AsFloat() / b.AsFloat());
    }
    case BinaryOp::kFloorDiv:
    case BinaryOp::kMod: {
      if (a.is_string() && op == BinaryOp::kMod) {
        return absl::InvalidArgumentError("printf-style '%' string formatting is not supported");
      }
      if (!numbers) return TypeError(op == BinaryOp::kMod ? "%" : "//", a, b);
      if (ints) {
        const int64_t x = a.AsInt();
        const int64_t y = b.AsInt();
        if (y == 0) return absl::InvalidArgumentError("integer division or modulo by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) {
          if (op == BinaryOp::kMod) return Value::Int(0);
          return Overflow();
        }
        int64_t q = x / y;
        int64_t r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) {
          r += y;
          q -= 1;
        }
        return Value::Int(op == BinaryOp::kMod ? r : q);
      }
      if (b.AsFloat() == 0) return absl::InvalidArgumentError("float division or modulo by zero");
      double div = 0;
      double mod = 0;
      FloatDivMod(a.AsFloat(), b.AsFloat(), &div, &mod);
      return Value::Float(op == BinaryOp::kMod ? mod : div);
    }
    case BinaryOp::kPow: {
      if (!numbers) return TypeError("**", a, b);
      if (ints && b.AsInt() >= 0) {
        int64_t base = a.AsInt();
        int64_t exp = b.AsInt();
        int64_t result = 1;
        while (exp > 0) {
          if (exp & 1) {
            if (__builtin_mul_overflow(result, base, &result)) return Overflow();
          }
          exp >>= 1;
          if (exp > 0 && __builtin_mul_overflow(base, base, &base)) return Overflow();
        }
        return Value::Int(result);
      }
      if (a.AsFloat() == 0 && b.AsFloat() < 0) {
        return absl::InvalidArgumentError("0.0 cannot be raised to a negative power");
      }
      return Value::Float(std::pow(a.AsFloat(), b.AsFloat()));
    }
    case BinaryOp::kConcat:
      break;
  }
  return absl::InternalError("unknown binary operator");
}

absl::StatusOr<bool> Contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kString:
      if (!item.is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat("'in <string>' requires string as left operand, not ", TypeName(item)));
      }
      return container.string_value().find(item.string_value()) != std::string::npos;
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      for (const Value& v : container.list()) {
        if (Equals(v, item)) return true;
      }
      return false;
    case Value::Kind::kDict:
      return container.dict().Find(item) != nullptr;
    case Value::Kind::kUndefined:
      return false;  // jinja2's Undefined iterates as empty
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("argument of type '", TypeName(container), "' is not iterable"));
  }
}

// ---- Interpreter ------------------------------------------------------------------------------

Interpreter::~Interpreter() {
  for (Value& v : tracked_) {
    if (v.is_sequence()) v.list().clear();
    if (v.is_dict() || v.is_attribute_bag()) v.dict().Clear();
  }
}

absl::StatusOr<std::string> Interpreter::Render(const Program& program, const Value& globals) {
  Frame root;
  for (auto& [name, value] : BuiltinGlobals()) root[name] = std::move(value);
  if (globals.is_dict()) {
    for (const auto& [key, value] : globals.dict().items()) {
      if (key.is_string()) root[key.string_value()] = value;
    }
  }
  std::string out;
  out_ = &out;
  scopes_ = {&root};
  absl::StatusOr<Flow> flow = ExecBody(program.body);
  scopes_.clear();
  out_ = nullptr;
  if (!flow.ok()) return flow.status();
  return out;
}

absl::Status Interpreter::CheckStringSize(size_t bytes) const {
  if (bytes > options_.max_output_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("template output exceeds the limit of ", options_.max_output_bytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status Interpreter::CountIterations(int64_t count) {
  if (count > options_.max_iterations - iterations_) {
    return absl::ResourceExhaustedError(absl::StrCat("template exceeds the limit of ",
                                                     options_.max_iterations, " loop iterations"));
  }
  iterations_ += count;
  return absl::OkStatus();
}

absl::Status Interpreter::Emit(std::string_view text) {
  INFER_RETURN_IF_ERROR(CheckStringSize(out_->size() + text.size()));
  out_->append(text);
  return absl::OkStatus();
}

Value Interpreter::Lookup(const std::string& name) const {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    auto found = (*it)->find(name);
    if (found != (*it)->end()) return found->second;
  }
  return Value::Undefined(absl::StrCat("'", name, "' is undefined"));
}

absl::StatusOr<Interpreter::Flow> Interpreter::ExecBody(const Body& body) {
  for (const NodePtr& node : body) {
    absl::StatusOr<Flow> flow = Exec(*node);
    if (!flow.ok()) return Locate(flow.status(), node->location);
    if (*flow != Flow::kNormal) return *flow;
  }
  return Flow::kNormal;
}

absl::StatusOr<Interpreter::Flow> Interpreter::Exec(const Node& node) {
  switch (node.kind) {
    case NodeKind::kText:
      INFER_RETURN_IF_ERROR(Emit(node.text));
      return Flow::kNormal;
    case NodeKind::kOutput: {
      INFER_ASSIGN_OR_RETURN(Value v, Eval(*node.expr));
      if (v.is_string()) {
        INFER_RETURN_IF_ERROR(Emit(v.string_value()));
      } else {
        INFER_RETURN_IF_ERROR(Emit(ToPyStr(v)));
      }
      return Flow::kNormal;
    }
    case NodeKind::kIf:
      for (const auto& [cond, branch] : node.branches) {
        INFER_ASSIGN_OR_RETURN(Value c, Eval(*cond));
        if (Truthy(c)) return ExecBody(branch);
      }
      return ExecBody(node.else_body);
    case NodeKind::kFor:
      return ExecFor(node);
    case NodeKind::kSet: {
      INFER_ASSIGN_OR_RETURN(Value v, Eval(*node.expr));
      INFER_RETURN_IF_ERROR(Assign(node.target, std::move(v)));
      return Flow::kNormal;
    }
    case NodeKind::kSetBlock: {
      INFER_ASSIGN_OR_RETURN(std::string text, Capture(node.body));
      Value v = Value::String(std::move(text));
      if (node.expr) {
        INFER_ASSIGN_OR_RETURN(v, EvalFilter(*node.expr, &v));
      }
      INFER_RETURN_IF_ERROR(Assign(node.target, std::move(v)));
      return Flow::kNormal;
    }
    case NodeKind::kMacro:
      INFER_RETURN_IF_ERROR(ExecMacroDefinition(node));
      return Flow::kNormal;
    case NodeKind::kFilterBlock: {
      INFER_ASSIGN_OR_RETURN(std::string text, Capture(node.body));
      const Value input = Value::String(std::move(text));
      INFER_ASSIGN_OR_RETURN(Value v, EvalFilter(*node.expr, &input));
      INFER_RETURN_IF_ERROR(Emit(ToPyStr(v)));
      return Flow::kNormal;
    }
    case NodeKind::kWith: {
      Frame frame;
      std::vector<Value> values;
      for (const auto& [target, expr] : node.bindings) {
        INFER_ASSIGN_OR_RETURN(Value v, Eval(*expr));
        values.push_back(std::move(v));
      }
      scopes_.push_back(&frame);
      absl::Status assigned;
      for (size_t i = 0; i < values.size() && assigned.ok(); ++i) {
        assigned = Assign(node.bindings[i].first, std::move(values[i]));
      }
      absl::StatusOr<Flow> flow = assigned.ok() ? ExecBody(node.body) : assigned;
      scopes_.pop_back();
      return flow;
    }
    case NodeKind::kBreak:
      return Flow::kBreak;
    case NodeKind::kContinue:
      return Flow::kContinue;
  }
  return absl::InternalError("unknown statement");
}

absl::StatusOr<Interpreter::Flow> Interpreter::ExecFor(const Node& node) {
  INFER_ASSIGN_OR_RETURN(Value iterable, Eval(*node.expr));
  INFER_ASSIGN_OR_RETURN(ValueList items, Iterate(iterable));
  Frame frame;  // the loop's own scope: the filter sees the loop variables
  scopes_.push_back(&frame);
  struct PopScope {
    std::vector<Frame*>* scopes;
    ~PopScope() { scopes->pop_back(); }
  } pop{&scopes_};
  if (node.condition) {
    ValueList kept;
    for (Value& item : items) {
      INFER_RETURN_IF_ERROR(CountIterations(1));
      frame.clear();
      INFER_RETURN_IF_ERROR(Assign(node.target, item));
      INFER_ASSIGN_OR_RETURN(Value keep, Eval(*node.condition));
      if (Truthy(keep)) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    frame.clear();
    return ExecBody(node.else_body);
  }
  const int64_t length = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < length; ++i) {
    INFER_RETURN_IF_ERROR(CountIterations(1));
    frame.clear();
    Value loop = Value::NewObject();
    Dict& d = loop.dict();
    d.Set(Value::String("index"), Value::Int(i + 1));
    d.Set(Value::String("index0"), Value::Int(i));
    d.Set(Value::String("revindex"), Value::Int(length - i));
    d.Set(Value::String("revindex0"), Value::Int(length - i - 1));
    d.Set(Value::String("first"), Value::Bool(i == 0));
    d.Set(Value::String("last"), Value::Bool(i == length - 1));
    d.Set(Value::String("length"), Value::Int(length));
    d.Set(Value::String("depth"), Value::Int(1));
    d.Set(Value::String("depth0"), Value::Int(0));
    d.Set(Value::String("previtem"), i > 0 ? items[static_cast<size_t>(i - 1)]
                                           : Value::Undefined("there is no previous item"));
    d.Set(Value::String("nextitem"), i + 1 < length ? items[static_cast<size_t>(i + 1)]
                                                    : Value::Undefined("there is no next item"));
    d.Set(Value::String("cycle"),
          Value::MakeFunction("cycle", [i](Interpreter&, Arguments& args) -> absl::StatusOr<Value> {
            if (args.positional.empty()) {
              return absl::InvalidArgumentError("no items for cycling given");
            }
            return args.positional[static_cast<size_t>(i) % args.positional.size()];
          }));
    frame["loop"] = std::move(loop);
    INFER_RETURN_IF_ERROR(Assign(node.target, items[static_cast<size_t>(i)]));
    INFER_ASSIGN_OR_RETURN(Flow flow, ExecBody(node.body));
    if (flow == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

absl::Status Interpreter::Assign(const AssignTarget& target, Value value) {
  if (!target.attribute.empty()) {
    const Value ns = Lookup(target.names[0]);
    if (ns.kind() != Value::Kind::kNamespace) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot assign attribute on non-namespace object '", target.names[0], "'"));
    }
    ns.dict().Set(Value::String(target.attribute), std::move(value));
    return absl::OkStatus();
  }
  Frame& frame = *scopes_.back();
  if (!target.unpack) {
    frame[target.names[0]] = std::move(value);
    return absl::OkStatus();
  }
  INFER_ASSIGN_OR_RETURN(ValueList parts, Iterate(value));
  if (parts.size() != target.names.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        parts.size() > target.names.size() ? "too many" : "not enough",
        " values to unpack (expected ", target.names.size(), ", got ", parts.size(), ")"));
  }
  for (size_t i = 0; i < parts.size(); ++i) frame[target.names[i]] = std::move(parts[i]);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Interpreter::Capture(const Body& body) {
  std::string captured;
  std::string* saved = std::exchange(out_, &captured);
  absl::StatusOr<Flow> flow = ExecBody(body);
  out_ = saved;
  if (!flow.ok()) return flow.status();
  return captured;
}

absl::Status Interpreter::ExecMacroDefinition(const Node& node) {
  const Node* macro = &node;
  (*scopes_.back())[node.text] = Value::MakeFunction(
      node.text, [macro](Interpreter& interp, Arguments& args) -> absl::StatusOr<Value> {
        return interp.CallMacro(*macro, args);
      });
  return absl::OkStatus();
}

absl::StatusOr<Value> Interpreter::CallMacro(const Node& macro, Arguments& args) {
  if (call_depth_ >= options_.max_call_depth) {
    return absl::ResourceExhaustedError(
        absl::StrCat("macro calls nested deeper than ", options_.max_call_depth, " levels"));
  }
  if (args.positional.size() > macro.params.size()) {
    return absl::InvalidArgumentError(absl::StrCat("macro '", macro.text, "' takes at most ",
                                                   macro.params.size(), " arguments (",
                                                   args.positional.size(), " given)"));
  }
  Frame frame;
  std::vector<Frame*> saved_scopes = {scopes_.front(), &frame};
  std::swap(saved_scopes, scopes_);
  ++call_depth_;
  const auto restore = [&]() {
    --call_depth_;
    std::swap(saved_scopes, scopes_);
  };
  for (size_t i = 0; i < macro.params.size(); ++i) {
    const MacroParam& param = macro.params[i];
    if (i < args.positional.size()) {
      frame[param.name] = args.positional[i];
      continue;
    }
    bool found = false;
    for (auto& [key, value] : args.keyword) {
      if (key == param.name) {
        frame[param.name] = value;
        found = true;
      }
    }
    if (found) continue;
    if (param.default_value) {
      absl::StatusOr<Value> v = Eval(*param.default_value);
      if (!v.ok()) {
        restore();
        return v.status();
      }
      frame[param.name] = *std::move(v);
    } else {
      frame[param.name] =
          Value::Undefined(absl::StrCat("parameter '", param.name, "' was not provided"));
    }
  }
  for (const auto& [key, value] : args.keyword) {
    bool known = false;
    for (const MacroParam& p : macro.params) known = known || p.name == key;
    if (!known) {
      restore();
      return absl::InvalidArgumentError(
          absl::StrCat("macro '", macro.text, "' takes no keyword argument '", key, "'"));
    }
  }
  absl::StatusOr<std::string> text = Capture(macro.body);
  restore();
  if (!text.ok()) return text.status();
  return Value::String(*std::move(text));
}

absl::StatusOr<Value> Interpreter::Call(const Value& callee, Arguments& args) {
  if (callee.is_undefined()) return UndefinedError(callee);
  if (!callee.is_function()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", TypeName(callee), "' object is not callable"));
  }
  return callee.function().call(*this, args);
}

absl::Status Interpreter::EvalArgs(const CallArgs& call, Arguments* args) {
  for (const ExprPtr& e : call.positional) {
    INFER_ASSIGN_OR_RETURN(Value v, Eval(*e));
    args->positional.push_back(std::move(v));
  }
  for (const auto& [name, e] : call.keyword) {
    INFER_ASSIGN_OR_RETURN(Value v, Eval(*e));
    args->keyword.emplace_back(name, std::move(v));
  }
  return absl::OkStatus();
}

absl::StatusOr<Value> Interpreter::EvalFilter(const Expr& expr, const Value* block_input) {
  Value input;
  if (expr.operands[0]) {
    const Expr& operand = *expr.operands[0];
    if (operand.kind == ExprKind::kFilter) {
      INFER_ASSIGN_OR_RETURN(input, EvalFilter(operand, block_input));
    } else {
      INFER_ASSIGN_OR_RETURN(input, Eval(operand));
    }
  } else if (block_input != nullptr) {
    input = *block_input;
  }
  Arguments args;
  INFER_RETURN_IF_ERROR(EvalArgs(expr.args, &args));
  absl::StatusOr<Value> result = expr.filter(*this, input, args);
  if (!result.ok()) return Locate(result.status(), expr.location);
  return result;
}

absl::StatusOr<Value> Interpreter::Eval(const Expr& expr) {
  absl::StatusOr<Value> v = EvalUnlocated(expr);
  if (!v.ok()) return Locate(v.status(), expr.location);
  return v;
}

// NOLINTNEXTLINE(readability-function-size): the expression dispatcher, one case a construct
absl::StatusOr<Value> Interpreter::EvalUnlocated(const Expr& expr) {
  switch (expr.kind) {
    case ExprKind::kLiteral:
      return expr.literal;
    case ExprKind::kName:
      return Lookup(expr.name);
    case ExprKind::kList:
    case ExprKind::kTuple: {
      ValueList items;
      items.reserve(expr.operands.size());
      for (const ExprPtr& e : expr.operands) {
        INFER_ASSIGN_OR_RETURN(Value v, Eval(*e));
        items.push_back(std::move(v));
      }
      if (expr.kind == ExprKind::kTuple) return Value::Tuple(std::move(items));
      Value list = Value::List(std::move(items));
      if (options_.allow_mutation) Track(list);
      return list;
    }
    case ExprKind::kDict: {
      Value dict = Value::NewDict();
      for (size_t i = 0; i + 1 < expr.operands.size(); i += 2) {
        INFER_ASSIGN_OR_RETURN(Value key, Eval(*expr.operands[i]));
        INFER_ASSIGN_OR_RETURN(Value value, Eval(*expr.operands[i + 1]));
        if (!key.is_string() && !key.is_number() && !key.is_none()) {
          return absl::InvalidArgumentError(absl::StrCat("unhashable type: '", TypeName(key), "'"));
        }
        dict.dict().Set(std::move(key), std::move(value));
      }
      if (options_.allow_mutation) Track(dict);
      return dict;
    }
    case ExprKind::kAttribute: {
      INFER_ASSIGN_OR_RETURN(Value object, Eval(*expr.operands[0]));
      return GetAttribute(*this, object, expr.name);
    }
    case ExprKind::kSubscript: {
      INFER_ASSIGN_OR_RETURN(Value object, Eval(*expr.operands[0]));
      INFER_ASSIGN_OR_RETURN(Value key, Eval(*expr.operands[1]));
      return GetItem(*this, object, key);
    }
    case ExprKind::kSlice: {
      INFER_ASSIGN_OR_RETURN(Value object, Eval(*expr.operands[0]));
      Value bounds[3];
      for (int i = 0; i < 3; ++i) {
        if (expr.operands[static_cast<size_t>(i) + 1]) {
          INFER_ASSIGN_OR_RETURN(bounds[i], Eval(*expr.operands[static_cast<size_t>(i) + 1]));
        }
      }
      return GetSlice(object, bounds[0], bounds[1], bounds[2]);
    }
    case ExprKind::kCall: {
      INFER_ASSIGN_OR_RETURN(Value callee, Eval(*expr.operands[0]));
      Arguments args;
      INFER_RETURN_IF_ERROR(EvalArgs(expr.args, &args));
      return Call(callee, args);
    }
    case ExprKind::kFilter:
      return EvalFilter(expr, nullptr);
    case ExprKind::kTest: {
      INFER_ASSIGN_OR_RETURN(Value input, Eval(*expr.operands[0]));
      Arguments args;
      INFER_RETURN_IF_ERROR(EvalArgs(expr.args, &args));
      INFER_ASSIGN_OR_RETURN(bool result, expr.test(*this, input, args));
      return Value::Bool(result);
    }
    case ExprKind::kNot: {
      INFER_ASSIGN_OR_RETURN(Value v, Eval(*expr.operands[0]));
      return Value::Bool(!Truthy(v));
    }
    case ExprKind::kNegate:
    case ExprKind::kPlus: {
      INFER_ASSIGN_OR_RETURN(Value v, Eval(*expr.operands[0]));
      if (v.is_undefined()) return UndefinedError(v);
      const bool negate = expr.kind == ExprKind::kNegate;
      if (v.is_float()) return Value::Float(negate ? -v.float_value() : v.float_value());
      if (v.is_int() || v.is_bool()) {
        if (!negate) return Value::Int(v.AsInt());
        if (v.AsInt() == std::numeric_limits<int64_t>::min()) return Overflow();
        return Value::Int(-v.AsInt());
      }
      return absl::InvalidArgumentError(
          absl::StrCat("bad operand type for unary ", negate ? "-" : "+", ": '", TypeName(v), "'"));
    }
    case ExprKind::kBinary: {
      INFER_ASSIGN_OR_RETURN(Value a, Eval(*expr.operands[0]));
      INFER_ASSIGN_OR_RETURN(Value b, Eval(*expr.operands[1]));
      return BinaryOperation(*this, expr.binary_op, a, b);
    }
    case ExprKind::kAnd:
    case ExprKind::kOr: {
      INFER_ASSIGN_OR_RETURN(Value a, Eval(*expr.operands[0]));
      const bool short_circuit = expr.kind == ExprKind::kAnd ? !Truthy(a) : Truthy(a);
      if (short_circuit) return a;
      return Eval(*expr.operands[1]);
    }
    case ExprKind::kCompare: {
      INFER_ASSIGN_OR_RETURN(Value lhs, Eval(*expr.operands[0]));
      for (size_t i = 0; i < expr.compare_ops.size(); ++i) {
        INFER_ASSIGN_OR_RETURN(Value rhs, Eval(*expr.operands[i + 1]));
        bool result = false;
        const CompareOp op = expr.compare_ops[i];
        switch (op) {
          case CompareOp::kEq:
            result = Equals(lhs, rhs);
            break;
          case CompareOp::kNe:
            result = !Equals(lhs, rhs);
            break;
          case CompareOp::kIn:
          case CompareOp::kNotIn: {
            INFER_ASSIGN_OR_RETURN(bool in, Contains(rhs, lhs));
            result = op == CompareOp::kIn ? in : !in;
            break;
          }
          default: {
            if (lhs.is_undefined()) return UndefinedError(lhs);
            if (rhs.is_undefined()) return UndefinedError(rhs);
            INFER_ASSIGN_OR_RETURN(int c, Compare(lhs, rhs));
            result = op == CompareOp::kLt   ? c < 0
                     : op == CompareOp::kLe ? c <= 0
                     : op == CompareOp::kGt ? c > 0
                                            : c >= 0;
          }
        }
        if (!result) return Value::Bool(false);
        lhs = std::move(rhs);
      }
      return Value::Bool(true);
    }
    case ExprKind::kConditional: {
      INFER_ASSIGN_OR_RETURN(Value cond, Eval(*expr.operands[1]));
      if (Truthy(cond)) return Eval(*expr.operands[0]);
      if (expr.operands[2]) return Eval(*expr.operands[2]);
      return Value::Undefined("the conditional expression had no else branch");
    }
  }
  return absl::InternalError("unknown expression");
}

}  // namespace infer::jinja
