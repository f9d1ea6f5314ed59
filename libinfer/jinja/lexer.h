// Lexer of the chat-template language: splits a Jinja template into text runs and the tokens
// of its `{{ ... }}` and `{% ... %}` tags, applying jinja2's whitespace rules as it goes
// (`{%-`/`-%}`, `{{-`/`-}}`, `{%+`/`+%}`, trim_blocks, lstrip_blocks, keep_trailing_newline), and
// dropping `{# ... #}` comments. `{% raw %}...{% endraw %}` becomes one text token.
//
// The rules follow jinja2's lexer (jinja2/lexer.py, 3.1) closely because Hugging Face renders
// chat templates with it and a single stray newline changes the prompt.
#ifndef INFER_JINJA_LEXER_H_
#define INFER_JINJA_LEXER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace infer::jinja {

struct LexerOptions {
  // Remove the first newline after a block tag or comment (jinja2 default false; HF true).
  bool trim_blocks = false;
  // Strip spaces and tabs from the start of a line up to a block tag or comment (jinja2
  // default false; HF true).
  bool lstrip_blocks = false;
  // Keep a single trailing newline of the template (jinja2 default false, as HF).
  bool keep_trailing_newline = false;
};

enum class TokenKind : uint8_t {
  kText,           // literal output; `text` holds it
  kVariableBegin,  // {{
  kVariableEnd,    // }}
  kBlockBegin,     // {%
  kBlockEnd,       // %}
  kName,           // identifier or keyword; `text`
  kString,         // string literal, escapes decoded; `text`
  kInteger,        // `int_value`
  kFloat,          // `float_value`
  kOperator,       // punctuation or operator; `text` ("+", "//", "(", ...)
  kEnd,            // end of template
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;
  int64_t int_value = 0;
  double float_value = 0;
  // 1-based position of the token's first character in the template.
  int line = 1;
  int column = 1;
};

// Tokens of `source`, ending with a kEnd token. InvalidArgument (with line and column) for an
// unterminated tag, comment or string, an unexpected character or unbalanced brackets.
absl::StatusOr<std::vector<Token>> Tokenize(std::string_view source, const LexerOptions& options);

}  // namespace infer::jinja

#endif  // INFER_JINJA_LEXER_H_
