#include "libinfer/jinja/lexer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libinfer/jinja/value.h"
#include "libinfer/util/unicode.h"

namespace infer::jinja {
namespace {

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || IsDigit(c); }

// True when every code point of `s` is Python whitespace and `s` is not empty (re's `\s+`).
bool AllWhitespace(std::string_view s) {
  if (s.empty()) return false;
  for (uint32_t c : DecodeCodePoints(s)) {
    if (!IsPySpace(c)) return false;
  }
  return true;
}

// jinja2 normalizes every newline sequence to "\n" and drops one trailing newline.
std::string NormalizeNewlines(std::string_view source, bool keep_trailing_newline) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!keep_trailing_newline && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  Lexer(std::string source, const LexerOptions& options)
      : src_(std::move(source)), options_(options) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  absl::StatusOr<std::vector<Token>> Run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < src_.size()) {
      const size_t start = FindTagStart(pos);
      if (start == std::string::npos) {
        EmitText(std::string_view(src_).substr(pos), pos);
        break;
      }
      const char kind = src_[start + 1];
      const char control =
          (start + 2 < src_.size() && (src_[start + 2] == '-' || src_[start + 2] == '+'))
              ? src_[start + 2]
              : '\0';
      const size_t after_begin = start + 2 + (control != '\0' ? 1 : 0);
      std::string_view text = std::string_view(src_).substr(pos, start - pos);
      text = ApplyLeftControl(text, control, /*block_like=*/kind != '{', line_starting);
      EmitText(text, pos);

      if (kind == '#') {
        size_t close = src_.find("#}", after_begin);
        if (close == std::string::npos) return Error(start, "missing end of comment tag '#}'");
        size_t end = close + 2;
        const char end_control = close > after_begin ? src_[close - 1] : '\0';
        if (end_control == '-') {
          end = SkipWhitespace(end);
        } else if (end_control != '+' && options_.trim_blocks && end < src_.size() &&
                   src_[end] == '\n') {
          ++end;
        }
        line_starting = src_[end - 1] == '\n';
        pos = end;
        continue;
      }

      size_t raw_body = 0;
      if (kind == '%' && MatchRawBegin(after_begin, &raw_body)) {
        absl::StatusOr<size_t> end = LexRaw(start, raw_body);
        if (!end.ok()) return end.status();
        line_starting = src_[*end - 1] == '\n';
        pos = *end;
        continue;
      }

      Push(kind == '{' ? TokenKind::kVariableBegin : TokenKind::kBlockBegin, "", start);
      absl::StatusOr<size_t> end = LexTag(after_begin, kind == '{', start);
      if (!end.ok()) return end.status();
      line_starting = src_[*end - 1] == '\n';
      pos = *end;
    }
    Push(TokenKind::kEnd, "", src_.size());
    return std::move(tokens_);
  }

 private:
  size_t FindTagStart(size_t pos) const {
    while (true) {
      const size_t brace = src_.find('{', pos);
      if (brace == std::string::npos || brace + 1 >= src_.size()) return std::string::npos;
      const char next = src_[brace + 1];
      if (next == '{' || next == '%' || next == '#') return brace;
      pos = brace + 1;
    }
  }

  size_t SkipWhitespace(size_t pos) const {
    // re's \s on str: ASCII whitespace plus the Unicode spaces.
    while (pos < src_.size()) {
      if (IsAsciiSpace(src_[pos]) || (src_[pos] >= 0x1C && src_[pos] <= 0x1F)) {
        ++pos;
        continue;
      }
      uint32_t cp = 0;
      const int len = static_cast<unsigned char>(src_[pos]) >= 0x80
                          ? DecodeUtf8(std::string_view(src_).substr(pos), &cp)
                          : 0;
      if (len > 0 && IsPySpace(cp)) {
        pos += static_cast<size_t>(len);
        continue;
      }
      break;
    }
    return pos;
  }

  // The text before a tag, after the tag's `-` (strip all whitespace) or lstrip_blocks (strip
  // the spaces between the line start and a block tag) rules.
  std::string_view ApplyLeftControl(std::string_view text, char control, bool block_like,
                                    bool line_starting) const {
    if (control == '-') {
      size_t end = text.size();
      // Walk back over whitespace code points.
      while (end > 0) {
        size_t begin = end - 1;
        while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;
        uint32_t cp = static_cast<unsigned char>(text[begin]);
        if (cp >= 0x80 && DecodeUtf8(text.substr(begin, end - begin), &cp) <= 0) break;
        if (!IsPySpace(cp)) break;
        end = begin;
      }
      return text.substr(0, end);
    }
    if (control != '+' && options_.lstrip_blocks && block_like) {
      const size_t newline = text.rfind('\n');
      const size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
      if ((line_start > 0 || line_starting) && AllWhitespace(text.substr(line_start))) {
        return text.substr(0, line_start);
      }
    }
    return text;
  }

  // `{% raw %}` (any `-`/`+` and spacing): sets *body to where the raw text starts.
  bool MatchRawBegin(size_t pos, size_t* body) const {
    pos = SkipWhitespace(pos);
    if (src_.compare(pos, 3, "raw") != 0) return false;
    pos = SkipWhitespace(pos + 3);
    if (src_.compare(pos, 3, "-%}") == 0) {
      *body = SkipWhitespace(pos + 3);
      return true;
    }
    if (src_.compare(pos, 2, "%}") == 0) {
      *body = pos + 2;
      return true;
    }
    return false;
  }

  absl::StatusOr<size_t> LexRaw(size_t tag_start, size_t body) {
    size_t search = body;
    while (true) {
      const size_t open = src_.find("{%", search);
      if (open == std::string::npos) return Error(tag_start, "missing '{% endraw %}'");
      size_t p = open + 2;
      char control = '\0';
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) control = src_[p++];
      p = SkipWhitespace(p);
      if (src_.compare(p, 6, "endraw") != 0) {
        search = open + 2;
        continue;
      }
      p = SkipWhitespace(p + 6);
      size_t end = 0;
      if (src_.compare(p, 3, "+%}") == 0) {
        end = p + 3;
      } else if (src_.compare(p, 3, "-%}") == 0) {
        end = SkipWhitespace(p + 3);
      } else if (src_.compare(p, 2, "%}") == 0) {
        end = p + 2;
        if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
      } else {
        search = open + 2;
        continue;
      }
      const bool line_starting = src_[body - 1] == '\n';
      std::string_view text = std::string_view(src_).substr(body, open - body);
      EmitText(ApplyLeftControl(text, control, /*block_like=*/true, line_starting), body);
      return end;
    }
  }

  // Tokens of one tag from `pos` through its end marker; returns the position after it.
  absl::StatusOr<size_t> LexTag(size_t pos, bool variable, size_t tag_start) {
    std::vector<char> brackets;
    while (true) {
      pos = SkipWhitespace(pos);
      if (pos >= src_.size()) {
        return Error(tag_start, variable ? "unexpected end of template: '{{' is never closed "
                                           "by '}}'"
                                         : "unexpected end of template: '{%' is never closed "
                                           "by '%}'");
      }
      if (brackets.empty()) {
        if (variable) {
          if (src_.compare(pos, 3, "-}}") == 0) {
            Push(TokenKind::kVariableEnd, "", pos);
            return SkipWhitespace(pos + 3);
          }
          if (src_.compare(pos, 2, "}}") == 0) {
            Push(TokenKind::kVariableEnd, "", pos);
            return pos + 2;
          }
        } else {
          if (src_.compare(pos, 3, "-%}") == 0) {
            Push(TokenKind::kBlockEnd, "", pos);
            return SkipWhitespace(pos + 3);
          }
          if (src_.compare(pos, 3, "+%}") == 0) {
            Push(TokenKind::kBlockEnd, "", pos);
            return pos + 3;
          }
          if (src_.compare(pos, 2, "%}") == 0) {
            Push(TokenKind::kBlockEnd, "", pos);
            size_t end = pos + 2;
            if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
            return end;
          }
        }
      }
      const char c = src_[pos];
      if (c == '\'' || c == '"') {
        absl::StatusOr<size_t> end = LexString(pos);
        if (!end.ok()) return end.status();
        pos = *end;
      } else if (IsDigit(c)) {
        absl::StatusOr<size_t> end = LexNumber(pos);
        if (!end.ok()) return end.status();
        pos = *end;
      } else if (IsNameStart(c)) {
        size_t end = pos;
        while (end < src_.size() && IsNameChar(src_[end])) ++end;
        Push(TokenKind::kName, src_.substr(pos, end - pos), pos);
        pos = end;
      } else {
        static constexpr std::string_view kTwoChar[] = {"//", "**", "==", "!=", "<=", ">="};
        std::string op;
        for (std::string_view two : kTwoChar) {
          if (src_.compare(pos, 2, two) == 0) op = std::string(two);
        }
        if (op.empty()) {
          static constexpr std::string_view kOneChar = "+-*/%~[](){}<>=.:|,;";
          if (kOneChar.find(c) == std::string_view::npos) {
            return Error(pos, absl::StrCat("unexpected character '", std::string(1, c), "'"));
          }
          op = std::string(1, c);
        }
        if (op == "(" || op == "[" || op == "{") {
          brackets.push_back(op[0]);
        } else if (op == ")" || op == "]" || op == "}") {
          const char expected = op == ")" ? '(' : (op == "]" ? '[' : '{');
          if (brackets.empty() || brackets.back() != expected) {
            return Error(pos, absl::StrCat("unexpected '", op, "'"));
          }
          brackets.pop_back();
        }
        Push(TokenKind::kOperator, op, pos);
        pos += op.size();
      }
    }
  }

  // A quoted string with Python's unicode-escape decoding of backslash sequences.
  absl::StatusOr<size_t> LexString(size_t pos) {
    const char quote = src_[pos];
    std::string value;
    size_t i = pos + 1;
    while (true) {
      if (i >= src_.size()) return Error(pos, "unterminated string literal");
      const char c = src_[i];
      if (c == quote) break;
      if (c != '\\') {
        value.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= src_.size()) return Error(pos, "unterminated string literal");
      const char e = src_[i + 1];
      i += 2;
      switch (e) {
        case '\n':
          break;  // line continuation
        case '\\':
        case '\'':
        case '"':
          value.push_back(e);
          break;
        case 'a':
          value.push_back('\a');
          break;
        case 'b':
          value.push_back('\b');
          break;
        case 'f':
          value.push_back('\f');
          break;
        case 'n':
          value.push_back('\n');
          break;
        case 'r':
          value.push_back('\r');
          break;
        case 't':
          value.push_back('\t');
          break;
        case 'v':
          value.push_back('\v');
          break;
        case 'x':
        case 'u':
        case 'U': {
          const size_t digits = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          uint32_t cp = 0;
          for (size_t k = 0; k < digits; ++k) {
            const char h = i + k < src_.size() ? src_[i + k] : '\0';
            int d = -1;
            if (h >= '0' && h <= '9') d = h - '0';
            if (h >= 'a' && h <= 'f') d = h - 'a' + 10;
            if (h >= 'A' && h <= 'F') d = h - 'A' + 10;
            if (d < 0) return Error(i - 2, "truncated \\x, \\u or \\U escape in string literal");
            cp = cp * 16 + static_cast<uint32_t>(d);
          }
          i += digits;
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
          AppendUtf8(cp, &value);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k) {
              cp = cp * 8 + static_cast<uint32_t>(src_[i++] - '0');
            }
            AppendUtf8(cp, &value);
          } else {
            value.push_back('\\');  // unknown escapes stay as written
            value.push_back(e);
          }
      }
    }
    Push(TokenKind::kString, std::move(value), pos);
    return i + 1;
  }

  absl::StatusOr<size_t> LexNumber(size_t pos) {
    const auto digits = [&](size_t p, auto is_digit) {
      while (p < src_.size() && (is_digit(src_[p]) || (src_[p] == '_' && p + 1 < src_.size() &&
                                                       is_digit(src_[p + 1])))) {
        ++p;
      }
      return p;
    };
    const auto dec = [](char c) { return IsDigit(c); };
    // 0x / 0o / 0b integers.
    if (src_[pos] == '0' && pos + 2 < src_.size()) {
      const char base_char = static_cast<char>(src_[pos + 1] | 0x20);
      int base = base_char == 'x' ? 16 : (base_char == 'o' ? 8 : (base_char == 'b' ? 2 : 0));
      if (base != 0) {
        const auto in_base = [base](char c) {
          const char l = static_cast<char>(c | 0x20);
          if (base == 16) return IsDigit(c) || (l >= 'a' && l <= 'f');
          return c >= '0' && c < static_cast<char>('0' + base);
        };
        size_t p = pos + 2;
        if (p < src_.size() && src_[p] == '_') ++p;
        const size_t end = digits(p, in_base);
        if (end > p) return PushInteger(pos, src_.substr(p, end - p), base, end);
      }
    }
    size_t end = digits(pos, dec);
    bool is_float = false;
    const bool after_dot = !tokens_.empty() && tokens_.back().kind == TokenKind::kOperator &&
                           tokens_.back().text == ".";
    if (!after_dot) {
      if (end + 1 < src_.size() && src_[end] == '.' && IsDigit(src_[end + 1])) {
        end = digits(end + 1, dec);
        is_float = true;
      }
      if (end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
        size_t p = end + 1;
        if (p < src_.size() && (src_[p] == '+' || src_[p] == '-')) ++p;
        if (p < src_.size() && IsDigit(src_[p])) {
          end = digits(p, dec);
          is_float = true;
        }
      }
    }
    if (!is_float) return PushInteger(pos, src_.substr(pos, end - pos), 10, end);
    std::string text;
    for (size_t i = pos; i < end; ++i) {
      if (src_[i] != '_') text.push_back(src_[i]);
    }
    Token token = MakeToken(TokenKind::kFloat, "", pos);
    token.float_value = std::strtod(text.c_str(), nullptr);
    tokens_.push_back(std::move(token));
    return end;
  }

  absl::StatusOr<size_t> PushInteger(size_t pos, const std::string& raw, int base, size_t end) {
    std::string text;
    for (char c : raw) {
      if (c != '_') text.push_back(c);
    }
    errno = 0;
    char* parse_end = nullptr;
    const unsigned long long v = std::strtoull(text.c_str(), &parse_end, base);
    if (errno == ERANGE ||
        v > static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) {
      return Error(pos, "integer literal does not fit in 64 bits");
    }
    Token token = MakeToken(TokenKind::kInteger, "", pos);
    token.int_value = static_cast<int64_t>(v);
    tokens_.push_back(std::move(token));
    return end;
  }

  void EmitText(std::string_view text, size_t offset) {
    if (!text.empty()) Push(TokenKind::kText, std::string(text), offset);
  }

  Token MakeToken(TokenKind kind, std::string text, size_t offset) const {
    Token token;
    token.kind = kind;
    token.text = std::move(text);
    Locate(offset, &token.line, &token.column);
    return token;
  }

  void Push(TokenKind kind, std::string text, size_t offset) {
    tokens_.push_back(MakeToken(kind, std::move(text), offset));
  }

  void Locate(size_t offset, int* line, int* column) const {
    const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    const size_t line_index = static_cast<size_t>(it - line_starts_.begin()) - 1;
    *line = static_cast<int>(line_index) + 1;
    const size_t line_start = line_starts_[line_index];
    *column = static_cast<int>(
                  CodePointLength(std::string_view(src_).substr(line_start, offset - line_start))) +
              1;
  }

  absl::Status Error(size_t offset, absl::string_view message) const {
    int line = 0;
    int column = 0;
    Locate(std::min(offset, src_.size()), &line, &column);
    return absl::InvalidArgumentError(
        absl::StrCat("template syntax error at line ", line, ", column ", column, ": ", message));
  }

  const std::string src_;
  const LexerOptions options_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
};

}  // namespace

absl::StatusOr<std::vector<Token>> Tokenize(std::string_view source, const LexerOptions& options) {
  return Lexer(NormalizeNewlines(source, options.keep_trailing_newline), options).Run();
}

}  // namespace infer::jinja
