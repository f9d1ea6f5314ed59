#include "libinfer/jinja/parser.h"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libinfer/jinja/builtins.h"
#include "libinfer/util/status_macros.h"

namespace infer::jinja {
namespace {

// Tags this engine knows but does not implement: a clear message rather than "unknown tag".
constexpr std::string_view kUnsupportedTags[] = {"include", "extends",    "block", "import", "from",
                                                 "call",    "autoescape", "do",    "trans"};

std::string Describe(const Token& t) {
  switch (t.kind) {
    case TokenKind::kText:
      return "template text";
    case TokenKind::kVariableBegin:
      return "'{{'";
    case TokenKind::kVariableEnd:
      return "'}}'";
    case TokenKind::kBlockBegin:
      return "'{%'";
    case TokenKind::kBlockEnd:
      return "'%}'";
    case TokenKind::kName:
    case TokenKind::kOperator:
      return absl::StrCat("'", t.text, "'");
    case TokenKind::kString:
      return "a string";
    case TokenKind::kInteger:
    case TokenKind::kFloat:
      return "a number";
    case TokenKind::kEnd:
      return "end of template";
  }
  return "token";
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  absl::StatusOr<std::unique_ptr<Program>> Run() {
    auto program = std::make_unique<Program>();
    std::string end_tag;
    INFER_RETURN_IF_ERROR(ParseBody(&program->body, {}, nullptr, &end_tag));
    return program;
  }

 private:
  // ---- token access ----
  const Token& Cur() const { return tokens_[pos_]; }
  const Token& Peek(size_t n = 1) const { return tokens_[std::min(pos_ + n, tokens_.size() - 1)]; }
  void Advance() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }
  bool IsOp(absl::string_view op) const {
    return Cur().kind == TokenKind::kOperator && Cur().text == op;
  }
  bool IsName(std::string_view name) const {
    return Cur().kind == TokenKind::kName && Cur().text == name;
  }
  bool SkipOp(absl::string_view op) {
    if (!IsOp(op)) return false;
    Advance();
    return true;
  }
  bool SkipName(std::string_view name) {
    if (!IsName(name)) return false;
    Advance();
    return true;
  }
  static SourceLocation Loc(const Token& t) { return SourceLocation{t.line, t.column}; }

  absl::Status ErrorAt(const Token& t, absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat("template syntax error at line ", t.line,
                                                   ", column ", t.column, ": ", message));
  }
  absl::Status Expected(absl::string_view what) const {
    return ErrorAt(Cur(), absl::StrCat("expected ", what, ", got ", Describe(Cur())));
  }
  absl::Status ExpectOp(absl::string_view op) {
    if (!SkipOp(op)) return Expected(absl::StrCat("'", op, "'"));
    return absl::OkStatus();
  }
  absl::Status ExpectBlockEnd() {
    if (Cur().kind != TokenKind::kBlockEnd) return Expected("end of statement '%}'");
    Advance();
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ExpectName(absl::string_view what) {
    if (Cur().kind != TokenKind::kName) return Expected(what);
    std::string name = Cur().text;
    Advance();
    return name;
  }

  ExprPtr NewExpr(ExprKind kind, SourceLocation loc) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->location = loc;
    return e;
  }

  // Records the depth of `e` (1 + its deepest child) and refuses trees deeper than the limit:
  // operator and filter chains build depth without parser recursion, and the interpreter
  // recurses once per level.
  absl::StatusOr<ExprPtr> Seal(ExprPtr e) {
    int depth = 0;
    for (const ExprPtr& op : e->operands) {
      if (op) depth = std::max(depth, op->depth);
    }
    for (const ExprPtr& a : e->args.positional) depth = std::max(depth, a->depth);
    for (const auto& [name, a] : e->args.keyword) depth = std::max(depth, a->depth);
    if (depth + 1 > kMaxExpressionDepth) {
      return absl::InvalidArgumentError(absl::StrCat(
          "template syntax error at line ", e->location.line, ", column ", e->location.column,
          ": expression nested deeper than ", kMaxExpressionDepth, " levels"));
    }
    e->depth = depth + 1;
    return e;
  }

  // ---- statements ----

  // Parses statements until one of `end_tags` opens a block (left current: the tag's name) or,
  // with no end tags, the end of the template. `opener` names the enclosing tag for errors.
  absl::Status ParseBody(Body* body, std::initializer_list<std::string_view> end_tags,
                         const Token* opener, std::string* end_tag) {
    if (++nesting_ > kMaxStatementNesting) {
      return ErrorAt(
          Cur(), absl::StrCat("statements nested deeper than ", kMaxStatementNesting, " levels"));
    }
    while (true) {
      const Token& t = Cur();
      if (t.kind == TokenKind::kEnd) {
        if (end_tags.size() == 0) break;
        std::string names;
        for (std::string_view tag : end_tags) {
          absl::StrAppend(&names, names.empty() ? "" : " or ", "'", std::string(tag), "'");
        }
        return ErrorAt(
            t, absl::StrCat("unexpected end of template: expected ", names, " to close the '",
                            opener->text, "' at line ", opener->line, ", column ", opener->column));
      }
      if (t.kind == TokenKind::kText) {
        auto node = std::make_unique<Node>();
        node->kind = NodeKind::kText;
        node->location = Loc(t);
        node->text = t.text;
        body->push_back(std::move(node));
        Advance();
        continue;
      }
      if (t.kind == TokenKind::kVariableBegin) {
        auto node = std::make_unique<Node>();
        node->kind = NodeKind::kOutput;
        node->location = Loc(t);
        Advance();
        INFER_ASSIGN_OR_RETURN(node->expr, ParseTuple(/*with_condexpr=*/true, {}, false));
        if (Cur().kind != TokenKind::kVariableEnd) return Expected("end of print statement '}}'");
        Advance();
        body->push_back(std::move(node));
        continue;
      }
      if (t.kind != TokenKind::kBlockBegin) return ErrorAt(t, "unexpected " + Describe(t));
      const Token& tag = Peek();
      if (tag.kind != TokenKind::kName) {
        Advance();
        return Expected("a tag name after '{%'");
      }
      if (std::find(end_tags.begin(), end_tags.end(), tag.text) != end_tags.end()) {
        Advance();  // leave the tag name current
        *end_tag = tag.text;
        --nesting_;
        return absl::OkStatus();
      }
      Advance();
      INFER_RETURN_IF_ERROR(ParseStatement(body));
    }
    --nesting_;
    return absl::OkStatus();
  }

  // NOLINTNEXTLINE(readability-function-size): the statement dispatcher, one case a tag
  absl::Status ParseStatement(Body* body) {
    const Token tag = Cur();
    const std::string& name = tag.text;
    Advance();
    auto node = std::make_unique<Node>();
    node->location = Loc(tag);
    std::string end;
    if (name == "if") {
      node->kind = NodeKind::kIf;
      while (true) {
        INFER_ASSIGN_OR_RETURN(ExprPtr cond, ParseTuple(true, {}, false));
        INFER_RETURN_IF_ERROR(ExpectBlockEnd());
        Body branch;
        INFER_RETURN_IF_ERROR(ParseBody(&branch, {"elif", "else", "endif"}, &tag, &end));
        Advance();
        node->branches.emplace_back(std::move(cond), std::move(branch));
        if (end == "elif") continue;
        if (end == "else") {
          INFER_RETURN_IF_ERROR(ExpectBlockEnd());
          INFER_RETURN_IF_ERROR(ParseBody(&node->else_body, {"endif"}, &tag, &end));
          Advance();
        }
        break;
      }
      INFER_RETURN_IF_ERROR(ExpectBlockEnd());
    } else if (name == "for") {
      node->kind = NodeKind::kFor;
      INFER_ASSIGN_OR_RETURN(node->target, ParseAssignTarget(/*allow_attribute=*/false));
      if (!SkipName("in")) return Expected("'in'");
      INFER_ASSIGN_OR_RETURN(node->expr, ParseTuple(/*with_condexpr=*/false, {"recursive"}, false));
      if (SkipName("if")) {
        INFER_ASSIGN_OR_RETURN(node->condition, ParseExpression(true));
      }
      if (IsName("recursive")) return ErrorAt(Cur(), "recursive for loops are not supported");
      INFER_RETURN_IF_ERROR(ExpectBlockEnd());
      ++loop_depth_;
      INFER_RETURN_IF_ERROR(ParseBody(&node->body, {"else", "endfor"}, &tag, &end));
      --loop_depth_;
      Advance();
      if (end == "else") {
        INFER_RETURN_IF_ERROR(ExpectBlockEnd());
        INFER_RETURN_IF_ERROR(ParseBody(&node->else_body, {"endfor"}, &tag, &end));
        Advance();
      }
      INFER_RETURN_IF_ERROR(ExpectBlockEnd());
    } else if (name == "set") {
      INFER_ASSIGN_OR_RETURN(node->target, ParseAssignTarget(/*allow_attribute=*/true));
      if (SkipOp("=")) {
        node->kind = NodeKind::kSet;
        INFER_ASSIGN_OR_RETURN(node->expr, ParseTuple(true, {}, false));
        INFER_RETURN_IF_ERROR(ExpectBlockEnd());
      } else {
        node->kind = NodeKind::kSetBlock;
        if (node->target.unpack) return Expected("'=' (a block set assigns one name)");
        if (IsOp("|")) {
          INFER_ASSIGN_OR_RETURN(node->expr, ParseFilterChain(nullptr, /*leading_bar=*/true));
        }
        INFER_RETURN_IF_ERROR(ExpectBlockEnd());
        INFER_RETURN_IF_ERROR(ParseBody(&node->body, {"endset"}, &tag, &end));
        Advance();
        INFER_RETURN_IF_ERROR(ExpectBlockEnd());
      }
    } else if (name == "macro") {
      node->kind = NodeKind::kMacro;
      INFER_ASSIGN_OR_RETURN(node->text, ExpectName("a macro name"));
      INFER_RETURN_IF_ERROR(ExpectOp("("));
      bool seen_default = false;
      while (!IsOp(")")) {
        if (!node->params.empty()) INFER_RETURN_IF_ERROR(ExpectOp(","));
        if (IsOp(")")) break;
        MacroParam param;
        INFER_ASSIGN_OR_RETURN(param.name, ExpectName("a parameter name"));
        if (SkipOp("=")) {
          INFER_ASSIGN_OR_RETURN(param.default_value, ParseExpression(true));
          seen_default = true;
        } else if (seen_default) {
          return ErrorAt(Cur(), "non-default argument follows default argument");
        }
        node->params.push_back(std::move(param));
      }
      Advance();
      INFER_RETURN_IF_ERROR(ExpectBlockEnd());
      const int saved_loop_depth = std::exchange(loop_depth_, 0);
      INFER_RETURN_IF_ERROR(ParseBody(&node->body, {"endmacro"}, &tag, &end));
      loop_depth_ = saved_loop_depth;
      Advance();
      INFER_RETURN_IF_ERROR(ExpectBlockEnd());
    } else if (name == "filter") {
      node->kind = NodeKind::kFilterBlock;
      INFER_ASSIGN_OR_RETURN(node->expr, ParseFilterChain(nullptr, /*leading_bar=*/false));
      INFER_RETURN_IF_ERROR(ExpectBlockEnd());
      INFER_RETURN_IF_ERROR(ParseBody(&node->body, {"endfilter"}, &tag, &end));
      Advance();
      INFER_RETURN_IF_ERROR(ExpectBlockEnd());
    } else if (name == "with") {
      node->kind = NodeKind::kWith;
      while (Cur().kind != TokenKind::kBlockEnd) {
        if (!node->bindings.empty()) INFER_RETURN_IF_ERROR(ExpectOp(","));
        INFER_ASSIGN_OR_RETURN(AssignTarget target, ParseAssignTarget(false));
        INFER_RETURN_IF_ERROR(ExpectOp("="));
        INFER_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        node->bindings.emplace_back(std::move(target), std::move(value));
      }
      Advance();
      INFER_RETURN_IF_ERROR(ParseBody(&node->body, {"endwith"}, &tag, &end));
      Advance();
      INFER_RETURN_IF_ERROR(ExpectBlockEnd());
    } else if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) return ErrorAt(tag, absl::StrCat("'", name, "' outside of a loop"));
      node->kind = name == "break" ? NodeKind::kBreak : NodeKind::kContinue;
      INFER_RETURN_IF_ERROR(ExpectBlockEnd());
    } else if (name == "generation") {
      // Hugging Face's assistant-mask marker: renders its body unchanged.
      INFER_RETURN_IF_ERROR(ExpectBlockEnd());
      INFER_RETURN_IF_ERROR(ParseBody(body, {"endgeneration"}, &tag, &end));
      Advance();
      return ExpectBlockEnd();
    } else if (std::find(std::begin(kUnsupportedTags), std::end(kUnsupportedTags), name) !=
               std::end(kUnsupportedTags)) {
      return ErrorAt(tag, absl::StrCat("the '", name, "' tag is not supported"));
    } else if (name.rfind("end", 0) == 0 || name == "elif" || name == "else") {
      return ErrorAt(tag, absl::StrCat("unexpected '", name, "' (no open block it can close)"));
    } else {
      return ErrorAt(tag, absl::StrCat("unknown tag '", name, "'"));
    }
    body->push_back(std::move(node));
    return absl::OkStatus();
  }

  absl::StatusOr<AssignTarget> ParseAssignTarget(bool allow_attribute) {
    AssignTarget target;
    const bool parenthesized = SkipOp("(");
    INFER_ASSIGN_OR_RETURN(std::string first, ExpectName("a variable name"));
    target.names.push_back(std::move(first));
    if (allow_attribute && !parenthesized && SkipOp(".")) {
      INFER_ASSIGN_OR_RETURN(target.attribute, ExpectName("an attribute name"));
      return target;
    }
    while (SkipOp(",")) {
      target.unpack = true;
      if (Cur().kind != TokenKind::kName || IsName("in")) break;  // trailing comma
      INFER_ASSIGN_OR_RETURN(std::string next, ExpectName("a variable name"));
      target.names.push_back(std::move(next));
    }
    if (parenthesized) INFER_RETURN_IF_ERROR(ExpectOp(")"));
    for (const std::string& n : target.names) {
      if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" ||
          n == "None") {
        return ErrorAt(Cur(), absl::StrCat("cannot assign to '", n, "'"));
      }
    }
    return target;
  }

  // ---- expressions ----

  bool IsTupleEnd(std::initializer_list<std::string_view> extra_end) const {
    const Token& t = Cur();
    if (t.kind == TokenKind::kVariableEnd || t.kind == TokenKind::kBlockEnd ||
        t.kind == TokenKind::kEnd || (t.kind == TokenKind::kOperator && t.text == ")")) {
      return true;
    }
    return t.kind == TokenKind::kName &&
           std::find(extra_end.begin(), extra_end.end(), t.text) != extra_end.end();
  }

  // jinja2's parse_tuple: `a`, or `a, b, ...` as a tuple.
  absl::StatusOr<ExprPtr> ParseTuple(bool with_condexpr,
                                     std::initializer_list<std::string_view> extra_end,
                                     bool explicit_parentheses) {
    const Token start = Cur();
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) INFER_RETURN_IF_ERROR(ExpectOp(","));
      if (IsTupleEnd(extra_end)) break;
      INFER_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(with_condexpr));
      items.push_back(std::move(item));
      if (IsOp(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parentheses) return Expected("an expression");
    }
    ExprPtr tuple = NewExpr(ExprKind::kTuple, Loc(start));
    tuple->operands = std::move(items);
    return Seal(std::move(tuple));
  }

  absl::StatusOr<ExprPtr> ParseExpression(bool with_condexpr) {
    if (with_condexpr) return ParseConditional();
    return ParseOr();
  }

  absl::StatusOr<ExprPtr> ParseConditional() {
    INFER_ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
    while (IsName("if")) {
      const Token t = Cur();
      Advance();
      INFER_ASSIGN_OR_RETURN(ExprPtr cond, ParseOr());
      ExprPtr otherwise;
      if (SkipName("else")) {
        INFER_ASSIGN_OR_RETURN(otherwise, ParseConditional());
      }
      ExprPtr node = NewExpr(ExprKind::kConditional, Loc(t));
      node->operands.push_back(std::move(expr));
      node->operands.push_back(std::move(cond));
      node->operands.push_back(std::move(otherwise));
      INFER_ASSIGN_OR_RETURN(expr, Seal(std::move(node)));
    }
    return expr;
  }

  absl::StatusOr<ExprPtr> Binary(ExprKind kind, const Token& t, ExprPtr lhs, ExprPtr rhs,
                                 BinaryOp op = BinaryOp::kAdd) {
    ExprPtr node = NewExpr(kind, Loc(t));
    node->binary_op = op;
    node->operands.push_back(std::move(lhs));
    node->operands.push_back(std::move(rhs));
    return Seal(std::move(node));
  }

  absl::StatusOr<ExprPtr> ParseOr() {
    INFER_ASSIGN_OR_RETURN(ExprPtr lhs, ParseAnd());
    while (IsName("or")) {
      const Token t = Cur();
      Advance();
      INFER_ASSIGN_OR_RETURN(ExprPtr rhs, ParseAnd());
      INFER_ASSIGN_OR_RETURN(lhs, Binary(ExprKind::kOr, t, std::move(lhs), std::move(rhs)));
    }
    return lhs;
  }

  absl::StatusOr<ExprPtr> ParseAnd() {
    INFER_ASSIGN_OR_RETURN(ExprPtr lhs, ParseNot());
    while (IsName("and")) {
      const Token t = Cur();
      Advance();
      INFER_ASSIGN_OR_RETURN(ExprPtr rhs, ParseNot());
      INFER_ASSIGN_OR_RETURN(lhs, Binary(ExprKind::kAnd, t, std::move(lhs), std::move(rhs)));
    }
    return lhs;
  }

  absl::StatusOr<ExprPtr> ParseNot() {
    if (IsName("not")) {
      const Token t = Cur();
      Advance();
      INFER_RETURN_IF_ERROR(Enter(t));
      INFER_ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
      --depth_;
      ExprPtr node = NewExpr(ExprKind::kNot, Loc(t));
      node->operands.push_back(std::move(operand));
      return Seal(std::move(node));
    }
    return ParseCompare();
  }

  absl::StatusOr<ExprPtr> ParseCompare() {
    const Token start = Cur();
    INFER_ASSIGN_OR_RETURN(ExprPtr first, ParseMath1());
    ExprPtr node;
    while (true) {
      CompareOp op;
      const Token& t = Cur();
      if (t.kind == TokenKind::kOperator && t.text == "==") {
        op = CompareOp::kEq;
      } else if (t.kind == TokenKind::kOperator && t.text == "!=") {
        op = CompareOp::kNe;
      } else if (t.kind == TokenKind::kOperator && t.text == "<") {
        op = CompareOp::kLt;
      } else if (t.kind == TokenKind::kOperator && t.text == "<=") {
        op = CompareOp::kLe;
      } else if (t.kind == TokenKind::kOperator && t.text == ">") {
        op = CompareOp::kGt;
      } else if (t.kind == TokenKind::kOperator && t.text == ">=") {
        op = CompareOp::kGe;
      } else if (IsName("in")) {
        op = CompareOp::kIn;
      } else if (IsName("not") && Peek().kind == TokenKind::kName && Peek().text == "in") {
        op = CompareOp::kNotIn;
        Advance();
      } else {
        break;
      }
      Advance();
      INFER_ASSIGN_OR_RETURN(ExprPtr rhs, ParseMath1());
      if (!node) {
        node = NewExpr(ExprKind::kCompare, Loc(start));
        node->operands.push_back(std::move(first));
      }
      node->compare_ops.push_back(op);
      node->operands.push_back(std::move(rhs));
    }
    if (!node) return first;
    return Seal(std::move(node));
  }

  absl::StatusOr<ExprPtr> ParseMath1() {
    INFER_ASSIGN_OR_RETURN(ExprPtr lhs, ParseConcat());
    while (IsOp("+") || IsOp("-")) {
      const Token t = Cur();
      Advance();
      INFER_ASSIGN_OR_RETURN(ExprPtr rhs, ParseConcat());
      INFER_ASSIGN_OR_RETURN(lhs, Binary(ExprKind::kBinary, t, std::move(lhs), std::move(rhs),
                                         t.text == "+" ? BinaryOp::kAdd : BinaryOp::kSub));
    }
    return lhs;
  }

  absl::StatusOr<ExprPtr> ParseConcat() {
    INFER_ASSIGN_OR_RETURN(ExprPtr lhs, ParseMath2());
    while (IsOp("~")) {
      const Token t = Cur();
      Advance();
      INFER_ASSIGN_OR_RETURN(ExprPtr rhs, ParseMath2());
      INFER_ASSIGN_OR_RETURN(
          lhs, Binary(ExprKind::kBinary, t, std::move(lhs), std::move(rhs), BinaryOp::kConcat));
    }
    return lhs;
  }

  absl::StatusOr<ExprPtr> ParseMath2() {
    INFER_ASSIGN_OR_RETURN(ExprPtr lhs, ParsePow());
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      const Token t = Cur();
      Advance();
      const BinaryOp op = t.text == "*"    ? BinaryOp::kMul
                          : t.text == "/"  ? BinaryOp::kDiv
                          : t.text == "//" ? BinaryOp::kFloorDiv
                                           : BinaryOp::kMod;
      INFER_ASSIGN_OR_RETURN(ExprPtr rhs, ParsePow());
      INFER_ASSIGN_OR_RETURN(lhs, Binary(ExprKind::kBinary, t, std::move(lhs), std::move(rhs), op));
    }
    return lhs;
  }

  absl::StatusOr<ExprPtr> ParsePow() {
    INFER_ASSIGN_OR_RETURN(ExprPtr lhs, ParseUnary(true));
    while (IsOp("**")) {  // left-associative in jinja2
      const Token t = Cur();
      Advance();
      INFER_ASSIGN_OR_RETURN(ExprPtr rhs, ParseUnary(true));
      INFER_ASSIGN_OR_RETURN(
          lhs, Binary(ExprKind::kBinary, t, std::move(lhs), std::move(rhs), BinaryOp::kPow));
    }
    return lhs;
  }

  absl::Status Enter(const Token& t) {
    if (++depth_ > kMaxExpressionDepth) {
      return ErrorAt(
          t, absl::StrCat("expression nested deeper than ", kMaxExpressionDepth, " levels"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ExprPtr> ParseUnary(bool with_filter) {
    const Token t = Cur();
    INFER_RETURN_IF_ERROR(Enter(t));
    ExprPtr node;
    if (IsOp("-") || IsOp("+")) {
      Advance();
      INFER_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
      node = NewExpr(t.text == "-" ? ExprKind::kNegate : ExprKind::kPlus, Loc(t));
      node->operands.push_back(std::move(operand));
      INFER_ASSIGN_OR_RETURN(node, Seal(std::move(node)));
    } else {
      INFER_ASSIGN_OR_RETURN(node, ParsePrimary());
    }
    INFER_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
    if (with_filter) {
      INFER_ASSIGN_OR_RETURN(node, ParseFilterExpr(std::move(node)));
    }
    --depth_;
    return node;
  }

  absl::StatusOr<ExprPtr> ParsePrimary() {
    const Token t = Cur();
    if (t.kind == TokenKind::kName) {
      Advance();
      ExprPtr node = NewExpr(ExprKind::kLiteral, Loc(t));
      if (t.text == "true" || t.text == "True") {
        node->literal = Value::Bool(true);
      } else if (t.text == "false" || t.text == "False") {
        node->literal = Value::Bool(false);
      } else if (t.text == "none" || t.text == "None") {
        node->literal = Value::None();
      } else {
        node->kind = ExprKind::kName;
        node->name = t.text;
      }
      return Seal(std::move(node));
    }
    if (t.kind == TokenKind::kString) {
      std::string text;
      while (Cur().kind == TokenKind::kString) {  // adjacent literals concatenate
        text += Cur().text;
        Advance();
      }
      ExprPtr node = NewExpr(ExprKind::kLiteral, Loc(t));
      node->literal = Value::String(std::move(text));
      return Seal(std::move(node));
    }
    if (t.kind == TokenKind::kInteger || t.kind == TokenKind::kFloat) {
      Advance();
      ExprPtr node = NewExpr(ExprKind::kLiteral, Loc(t));
      node->literal =
          t.kind == TokenKind::kInteger ? Value::Int(t.int_value) : Value::Float(t.float_value);
      return Seal(std::move(node));
    }
    if (SkipOp("(")) {
      INFER_ASSIGN_OR_RETURN(ExprPtr inner, ParseTuple(true, {}, /*explicit_parentheses=*/true));
      INFER_RETURN_IF_ERROR(ExpectOp(")"));
      return inner;
    }
    if (SkipOp("[")) {
      ExprPtr node = NewExpr(ExprKind::kList, Loc(t));
      while (!IsOp("]")) {
        if (!node->operands.empty()) INFER_RETURN_IF_ERROR(ExpectOp(","));
        if (IsOp("]")) break;
        INFER_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(true));
        node->operands.push_back(std::move(item));
      }
      Advance();
      return Seal(std::move(node));
    }
    if (SkipOp("{")) {
      ExprPtr node = NewExpr(ExprKind::kDict, Loc(t));
      while (!IsOp("}")) {
        if (!node->operands.empty()) INFER_RETURN_IF_ERROR(ExpectOp(","));
        if (IsOp("}")) break;
        INFER_ASSIGN_OR_RETURN(ExprPtr key, ParseExpression(true));
        INFER_RETURN_IF_ERROR(ExpectOp(":"));
        INFER_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        node->operands.push_back(std::move(key));
        node->operands.push_back(std::move(value));
      }
      Advance();
      return Seal(std::move(node));
    }
    return Expected("an expression");
  }

  absl::StatusOr<ExprPtr> ParsePostfix(ExprPtr node) {
    while (true) {
      const Token t = Cur();
      if (SkipOp(".")) {
        if (Cur().kind == TokenKind::kName) {
          ExprPtr attr = NewExpr(ExprKind::kAttribute, Loc(t));
          attr->name = Cur().text;
          Advance();
          attr->operands.push_back(std::move(node));
          INFER_ASSIGN_OR_RETURN(node, Seal(std::move(attr)));
        } else if (Cur().kind == TokenKind::kInteger) {  // x.0 is x[0]
          ExprPtr index = NewExpr(ExprKind::kLiteral, Loc(Cur()));
          index->literal = Value::Int(Cur().int_value);
          Advance();
          INFER_ASSIGN_OR_RETURN(index, Seal(std::move(index)));
          ExprPtr sub = NewExpr(ExprKind::kSubscript, Loc(t));
          sub->operands.push_back(std::move(node));
          sub->operands.push_back(std::move(index));
          INFER_ASSIGN_OR_RETURN(node, Seal(std::move(sub)));
        } else {
          return Expected("an attribute name after '.'");
        }
      } else if (SkipOp("[")) {
        INFER_ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node), t));
      } else if (IsOp("(")) {
        INFER_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  absl::StatusOr<ExprPtr> ParseSubscript(ExprPtr object, const Token& t) {
    ExprPtr bounds[3];
    bool is_slice = false;
    for (int part = 0; part < 3; ++part) {
      if (part > 0) {
        if (!SkipOp(":")) break;
        is_slice = true;
      }
      if (!IsOp(":") && !IsOp("]")) {
        INFER_ASSIGN_OR_RETURN(bounds[part], ParseExpression(true));
      } else if (part == 0 && IsOp("]")) {
        return Expected("a subscript");
      }
    }
    INFER_RETURN_IF_ERROR(ExpectOp("]"));
    ExprPtr node = NewExpr(is_slice ? ExprKind::kSlice : ExprKind::kSubscript, Loc(t));
    node->operands.push_back(std::move(object));
    node->operands.push_back(std::move(bounds[0]));
    if (is_slice) {
      node->operands.push_back(std::move(bounds[1]));
      node->operands.push_back(std::move(bounds[2]));
    }
    return Seal(std::move(node));
  }

  absl::Status ParseCallArgs(CallArgs* args) {
    INFER_RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(")")) {
      if (!args->positional.empty() || !args->keyword.empty()) {
        INFER_RETURN_IF_ERROR(ExpectOp(","));
        if (IsOp(")")) break;
      }
      if (IsOp("*") || IsOp("**")) return ErrorAt(Cur(), "*args and **kwargs are not supported");
      if (Cur().kind == TokenKind::kName && Peek().kind == TokenKind::kOperator &&
          Peek().text == "=") {
        std::string key = Cur().text;
        Advance();
        Advance();
        INFER_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        args->keyword.emplace_back(std::move(key), std::move(value));
      } else {
        if (!args->keyword.empty()) {
          return ErrorAt(Cur(), "positional argument follows keyword argument");
        }
        INFER_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression(true));
        args->positional.push_back(std::move(value));
      }
    }
    Advance();
    return absl::OkStatus();
  }

  absl::StatusOr<ExprPtr> ParseCall(ExprPtr callee) {
    ExprPtr node = NewExpr(ExprKind::kCall, Loc(Cur()));
    INFER_RETURN_IF_ERROR(ParseCallArgs(&node->args));
    node->operands.push_back(std::move(callee));
    return Seal(std::move(node));
  }

  // `| name(args) | name ...` after `input` (null inside {% filter %} / {% set %} blocks).
  absl::StatusOr<ExprPtr> ParseFilterChain(ExprPtr input, bool leading_bar) {
    bool first = true;
    while (first ? (!leading_bar || IsOp("|")) : IsOp("|")) {
      if (!first || leading_bar) Advance();
      first = false;
      INFER_ASSIGN_OR_RETURN(input, ParseFilter(std::move(input)));
    }
    return input;
  }

  absl::StatusOr<ExprPtr> ParseFilter(ExprPtr input) {
    const Token t = Cur();
    INFER_ASSIGN_OR_RETURN(std::string name, ExpectName("a filter name"));
    while (SkipOp(".")) {
      INFER_ASSIGN_OR_RETURN(std::string part, ExpectName("a filter name"));
      absl::StrAppend(&name, ".", part);
    }
    ExprPtr node = NewExpr(ExprKind::kFilter, Loc(t));
    node->filter = FindFilter(name);
    if (node->filter == nullptr) return ErrorAt(t, absl::StrCat("no filter named '", name, "'"));
    node->name = std::move(name);
    if (IsOp("(")) INFER_RETURN_IF_ERROR(ParseCallArgs(&node->args));
    node->operands.push_back(std::move(input));
    return Seal(std::move(node));
  }

  absl::StatusOr<ExprPtr> ParseFilterExpr(ExprPtr node) {
    while (true) {
      if (IsOp("|")) {
        Advance();
        INFER_ASSIGN_OR_RETURN(node, ParseFilter(std::move(node)));
      } else if (IsName("is")) {
        INFER_ASSIGN_OR_RETURN(node, ParseTest(std::move(node)));
      } else if (IsOp("(")) {
        INFER_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  absl::StatusOr<ExprPtr> ParseTest(ExprPtr input) {
    const Token is_token = Cur();
    Advance();
    const bool negated = SkipName("not");
    const Token t = Cur();
    INFER_ASSIGN_OR_RETURN(std::string name, ExpectName("a test name"));
    while (SkipOp(".")) {
      INFER_ASSIGN_OR_RETURN(std::string part, ExpectName("a test name"));
      absl::StrAppend(&name, ".", part);
    }
    ExprPtr node = NewExpr(ExprKind::kTest, Loc(is_token));
    node->test = FindTest(name);
    if (node->test == nullptr) return ErrorAt(t, absl::StrCat("no test named '", name, "'"));
    node->name = std::move(name);
    const Token& c = Cur();
    if (IsOp("(")) {
      INFER_RETURN_IF_ERROR(ParseCallArgs(&node->args));
    } else if ((c.kind == TokenKind::kName || c.kind == TokenKind::kString ||
                c.kind == TokenKind::kInteger || c.kind == TokenKind::kFloat || IsOp("[") ||
                IsOp("{")) &&
               !IsName("else") && !IsName("or") && !IsName("and")) {
      // `x is divisibleby 3`, `x is sameas none`: one argument without parentheses.
      if (IsName("is")) return ErrorAt(c, "cannot chain multiple tests with 'is'");
      INFER_RETURN_IF_ERROR(Enter(c));
      INFER_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
      INFER_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
      --depth_;
      node->args.positional.push_back(std::move(arg));
    }
    node->operands.push_back(std::move(input));
    INFER_ASSIGN_OR_RETURN(node, Seal(std::move(node)));
    if (!negated) return node;
    ExprPtr inverted = NewExpr(ExprKind::kNot, Loc(is_token));
    inverted->operands.push_back(std::move(node));
    return Seal(std::move(inverted));
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int nesting_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Program>> ParseTemplate(std::string_view source,
                                                       const LexerOptions& options) {
  INFER_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(source, options));
  return Parser(std::move(tokens)).Run();
}

}  // namespace infer::jinja
