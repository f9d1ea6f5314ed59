// Syntax tree of a parsed chat template: expressions (Expr) and statements (Node). Plain data,
// built by parser.cc and walked by interpreter.cc; immutable after parsing, so one
// tree may be rendered from many threads at once.
#ifndef INFER_JINJA_AST_H_
#define INFER_JINJA_AST_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "libinfer/jinja/value.h"

namespace infer::jinja {

// A filter: `input | name(args)`. `input` is the value left of the bar.
using FilterFn = absl::StatusOr<Value> (*)(Interpreter& interp, const Value& input,
                                           Arguments& args);
// A test: `input is name(args)`.
using TestFn = absl::StatusOr<bool> (*)(Interpreter& interp, const Value& input, Arguments& args);

struct SourceLocation {
  int line = 0;
  int column = 0;
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

// Arguments as written at a call site.
struct CallArgs {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
};

enum class ExprKind : uint8_t {
  kLiteral,      // `literal`
  kName,         // `name`
  kList,         // operands: items
  kTuple,        // operands: items
  kDict,         // operands: key0, value0, key1, value1, ...
  kAttribute,    // operands[0].name
  kSubscript,    // operands[0][operands[1]]
  kSlice,        // operands[0][operands[1]:operands[2]:operands[3]] (each bound may be null)
  kCall,         // operands[0](args)
  kFilter,       // operands[0] | name(args); operands[0] is null inside {% filter %} blocks
  kTest,         // operands[0] is name(args)
  kNot,          // not operands[0]
  kNegate,       // -operands[0]
  kPlus,         // +operands[0]
  kBinary,       // operands[0] binary_op operands[1]
  kAnd,          // operands[0] and operands[1] (short-circuit, yields an operand)
  kOr,           // operands[0] or operands[1]
  kCompare,      // operands[0] compare_ops[0] operands[1] compare_ops[1] operands[2] ...
  kConditional,  // operands[0] if operands[1] else operands[2] (else may be null)
};

enum class BinaryOp : uint8_t { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow, kConcat };
enum class CompareOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  SourceLocation location;
  Value literal;     // kLiteral (scalars only: containers are built fresh per evaluation)
  std::string name;  // kName, kAttribute, kFilter, kTest
  BinaryOp binary_op = BinaryOp::kAdd;
  std::vector<CompareOp> compare_ops;
  std::vector<ExprPtr> operands;
  CallArgs args;              // kCall, kFilter, kTest
  FilterFn filter = nullptr;  // kFilter, resolved at parse time
  TestFn test = nullptr;      // kTest, resolved at parse time
  int depth = 1;              // 1 + the depth of the deepest operand or argument
};

// Where `{% for %}`/`{% set %}`/`{% with %}` store a value: a name, `ns.attr`, or a tuple of
// names to unpack into.
struct AssignTarget {
  std::vector<std::string> names;  // one name unless `unpack`
  std::string attribute;           // set when the target is names[0].attribute
  bool unpack = false;             // `a, b` (tuple unpacking)
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

enum class NodeKind : uint8_t {
  kText,         // text
  kOutput,       // {{ expr }}
  kIf,           // branches (if/elif), else_body
  kFor,          // for target in expr [if condition] body [else else_body]
  kSet,          // set target = expr
  kSetBlock,     // set target %} body {% endset; expr: optional filter chain (null operand)
  kMacro,        // macro name(params) body
  kFilterBlock,  // filter expr(null operand) body
  kWith,         // with assignments body
  kBreak,
  kContinue,
};

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null when required
};

struct Node {
  NodeKind kind = NodeKind::kText;
  SourceLocation location;
  std::string text;     // kText; kMacro: the macro's name
  ExprPtr expr;         // kOutput, kFor (iterable), kSet, kSetBlock, kFilterBlock
  ExprPtr condition;    // kFor: inline `if` filter
  AssignTarget target;  // kFor, kSet, kSetBlock
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf
  Body body;                                       // kFor, kSetBlock, kMacro, kFilterBlock, kWith
  Body else_body;                                  // kIf, kFor
  std::vector<MacroParam> params;                  // kMacro
  std::vector<std::pair<AssignTarget, ExprPtr>> bindings;  // kWith
};

// A parsed template: its top-level statements.
struct Program {
  Body body;
};

}  // namespace infer::jinja

#endif  // INFER_JINJA_AST_H_
