// Parser of the chat-template language: tokens (lexer.h) → syntax tree (ast.h),
// following jinja2's grammar and operator precedence (jinja2/parser.py). Filter and test names
// are resolved here, so a template that uses one this engine lacks fails at parse time.
#ifndef INFER_JINJA_PARSER_H_
#define INFER_JINJA_PARSER_H_

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "libinfer/jinja/ast.h"
#include "libinfer/jinja/lexer.h"

namespace infer::jinja {

// Expressions nested deeper than this (parentheses, operator chains, filter chains) and
// statements nested deeper than kMaxStatementNesting are refused, which bounds the stack the
// parser and the interpreter use.
inline constexpr int kMaxExpressionDepth = 128;
inline constexpr int kMaxStatementNesting = 64;

// InvalidArgument "template syntax error at line L, column C: <what was expected, what was
// found>" for any lexical or syntax error, an unknown tag, filter or test, `break` outside a
// loop, or nesting beyond the limits above.
absl::StatusOr<std::unique_ptr<Program>> ParseTemplate(std::string_view source,
                                                       const LexerOptions& options);

}  // namespace infer::jinja

#endif  // INFER_JINJA_PARSER_H_
