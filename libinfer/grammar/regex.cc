// Regular expressions (an ECMAScript subset) compiled into grammar rules.
#include <algorithm>
#include <array>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libinfer/grammar/compilers.h"
#include "libinfer/util/status_macros.h"

namespace infer::grammar {
namespace {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;
constexpr int64_t kMaxRepeat = 10000;
constexpr int kMaxNesting = 100;

CodePointRanges Normalize(CodePointRanges r) {
  std::sort(r.begin(), r.end());
  CodePointRanges out;
  for (const auto& [lo, hi] : r) {
    if (!out.empty() && lo <= out.back().second + 1) {
      out.back().second = std::max(out.back().second, hi);
    } else {
      out.emplace_back(lo, hi);
    }
  }
  return out;
}

CodePointRanges Complement(const CodePointRanges& r) {
  CodePointRanges out;
  uint32_t next = 0;
  for (const auto& [lo, hi] : Normalize(r)) {
    if (lo > next) out.emplace_back(next, lo - 1);
    next = hi + 1;
  }
  if (next <= kMaxCodePoint) out.emplace_back(next, kMaxCodePoint);
  return out;
}

// `r` without the code points of `cut`.
CodePointRanges Subtract(const CodePointRanges& r, const CodePointRanges& cut) {
  CodePointRanges keep = Complement(cut);
  CodePointRanges out;
  for (const auto& [a, b] : Normalize(r)) {
    for (const auto& [c, d] : keep) {
      const uint32_t lo = std::max(a, c);
      const uint32_t hi = std::min(b, d);
      if (lo <= hi) out.emplace_back(lo, hi);
    }
  }
  return out;
}

bool Contains(const CodePointRanges& r, uint32_t c) {
  return std::any_of(r.begin(), r.end(),
                     [c](const auto& x) { return x.first <= c && c <= x.second; });
}

int Encode(uint32_t cp, uint8_t* out) {
  if (cp < 0x80) {
    out[0] = static_cast<uint8_t>(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = static_cast<uint8_t>(0xC0 | (cp >> 6));
    out[1] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<uint8_t>(0xE0 | (cp >> 12));
    out[1] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<uint8_t>(0xF0 | (cp >> 18));
  out[1] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
  return 4;
}

using ByteRanges = std::vector<std::pair<uint8_t, uint8_t>>;

// Splits [lo, hi] into runs whose UTF-8 encodings are products of byte ranges (the classic
// construction: split at encoding-length boundaries, then where the low 6k bits stop being
// full ranges).
void SplitUtf8(uint32_t lo, uint32_t hi, std::vector<ByteRanges>* out) {
  for (uint32_t limit : {0x7Fu, 0x7FFu, 0xFFFFu}) {
    if (lo <= limit && hi > limit) {
      SplitUtf8(lo, limit, out);
      SplitUtf8(limit + 1, hi, out);
      return;
    }
  }
  for (int i = 1; i < 4; ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        SplitUtf8(lo, lo | m, out);
        SplitUtf8((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        SplitUtf8(lo, (hi & ~m) - 1, out);
        SplitUtf8(hi & ~m, hi, out);
        return;
      }
    }
  }
  std::array<uint8_t, 4> a{};
  std::array<uint8_t, 4> z{};
  const int n = Encode(lo, a.data());
  Encode(hi, z.data());
  ByteRanges seq;
  for (int k = 0; k < n; ++k)
    seq.emplace_back(a[static_cast<size_t>(k)], z[static_cast<size_t>(k)]);
  out->push_back(std::move(seq));
}

std::string EscapeForJson(uint32_t c) {
  switch (c) {
    case '"':
      return "\\\"";
    case '\\':
      return "\\\\";
    case '\n':
      return "\\n";
    case '\t':
      return "\\t";
    case '\r':
      return "\\r";
    case '\b':
      return "\\b";
    case '\f':
      return "\\f";
    default:
      return absl::StrFormat("\\u%04x", c);
  }
}

std::string Utf8(uint32_t c) {
  std::array<uint8_t, 4> buf{};
  const int n = Encode(c, buf.data());
  return std::string(reinterpret_cast<const char*>(buf.data()), static_cast<size_t>(n));
}

}  // namespace

int32_t AddCodePoints(Builder& b, std::string_view name, CodePointRanges ranges) {
  ranges = Subtract(ranges, {{0xD800, 0xDFFF}});
  std::vector<ByteRanges> seqs;
  for (const auto& [lo, hi] : ranges) SplitUtf8(lo, std::min(hi, kMaxCodePoint), &seqs);
  std::vector<Sequence> alts;
  ByteSet single;
  for (const ByteRanges& seq : seqs) {
    if (seq.size() == 1) {
      single.AddRange(seq[0].first, seq[0].second);
      continue;
    }
    Sequence s;
    for (const auto& [lo, hi] : seq) {
      ByteSet set;
      set.AddRange(lo, hi);
      s.push_back(b.Bytes(set));
    }
    alts.push_back(std::move(s));
  }
  if (!single.Empty()) alts.insert(alts.begin(), Sequence{b.Bytes(single)});
  return b.Rule(name, std::move(alts));
}

namespace {

class RegexParser {
 public:
  RegexParser(Builder& b, std::string_view p, TextMode mode) : b_(b), p_(p), mode_(mode) {}

  absl::StatusOr<Item> Alternation() {
    if (++depth_ > kMaxNesting) return Error("groups nest deeper than 100");
    std::vector<Sequence> alts;
    while (true) {
      INFER_ASSIGN_OR_RETURN(Sequence s, Concat());
      alts.push_back(std::move(s));
      if (i_ < p_.size() && p_[i_] == '|') {
        ++i_;
        continue;
      }
      break;
    }
    --depth_;
    if (alts.size() == 1 && alts[0].size() == 1) return alts[0][0];
    return Builder::Ref(b_.Rule("regex group", std::move(alts)));
  }

  absl::Status Error(const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat("regex: ", what, " at offset ", i_));
  }

  bool done() const { return i_ >= p_.size(); }
  char peek() const { return p_[i_]; }

  // The items matching any one character other than a line break (the regex '.').
  Item AnyChar() { return CharClass(Complement({{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}})); }

 private:
  absl::StatusOr<Sequence> Concat() {
    Sequence seq;
    while (i_ < p_.size() && p_[i_] != '|' && p_[i_] != ')') {
      INFER_ASSIGN_OR_RETURN(Sequence atom, Atom());
      INFER_ASSIGN_OR_RETURN(bool quantified, Quantify(&atom));
      (void)quantified;
      seq.insert(seq.end(), atom.begin(), atom.end());
    }
    return seq;
  }

  // Applies a quantifier that follows, if any, to `atom` (made one item first).
  absl::StatusOr<bool> Quantify(Sequence* atom) {
    if (i_ >= p_.size()) return false;
    int64_t min = 0;
    int64_t max = -1;
    const size_t at = i_;
    const char c = p_[i_];
    if (c == '*' || c == '+' || c == '?') {
      min = c == '+' ? 1 : 0;
      max = c == '?' ? 1 : -1;
      ++i_;
    } else if (c == '{') {
      if (!Braces(&min, &max)) {
        i_ = at;
        return false;  // a '{' that starts no quantifier is a literal (Atom reads it)
      }
    } else {
      return false;
    }
    if (i_ < p_.size() && p_[i_] == '?') ++i_;  // lazy: the same strings
    if (i_ < p_.size() && (p_[i_] == '*' || p_[i_] == '+' || p_[i_] == '{')) {
      if (p_[i_] != '{') return Error("a quantifier follows a quantifier");
    }
    if (min > kMaxRepeat || max > kMaxRepeat) {
      return Error(absl::StrCat("a repetition count above ", kMaxRepeat));
    }
    if (max >= 0 && max < min) return Error("a repetition {n,m} with m < n");
    Item item = atom->size() == 1 ? (*atom)[0] : Builder::Ref(b_.Rule("regex atom", {*atom}));
    *atom = {Builder::Ref(b_.Repeat("regex repeat", item, min, max))};
    return true;
  }

  bool Braces(int64_t* min, int64_t* max) {
    size_t j = i_ + 1;
    auto number = [&](int64_t* out) {
      const size_t start = j;
      int64_t v = 0;
      while (j < p_.size() && p_[j] >= '0' && p_[j] <= '9') {
        v = std::min<int64_t>(v * 10 + (p_[j] - '0'), kMaxRepeat + 1);
        ++j;
      }
      *out = v;
      return j > start;
    };
    if (!number(min)) return false;
    *max = *min;
    if (j < p_.size() && p_[j] == ',') {
      ++j;
      if (!number(max)) *max = -1;
    }
    if (j >= p_.size() || p_[j] != '}') return false;
    i_ = j + 1;
    return true;
  }

  absl::StatusOr<Sequence> Atom() {
    const char c = p_[i_];
    switch (c) {
      case '(':
        return Group();
      case '[': {
        INFER_ASSIGN_OR_RETURN(Item item, Class());
        return Sequence{item};
      }
      case '.':
        ++i_;
        return Sequence{AnyChar()};
      case '\\':
        return EscapeAtom();
      case '^':
      case '$':
        return Error("anchors are supported only at the start and end of the pattern");
      case '*':
      case '+':
      case '?':
        return Error("a quantifier with nothing to repeat");
      case ')':
        return Error("an unmatched ')'");
      default:
        break;
    }
    INFER_ASSIGN_OR_RETURN(uint32_t cp, NextCodePoint());
    return Char(cp);
  }

  absl::StatusOr<Sequence> Group() {
    ++i_;  // (
    if (p_.substr(i_, 2) == "?:") {
      i_ += 2;
    } else if (p_.substr(i_, 2) == "?=" || p_.substr(i_, 2) == "?!" || p_.substr(i_, 3) == "?<=" ||
               p_.substr(i_, 3) == "?<!") {
      return Error("lookaround is not supported");
    } else if (p_.substr(i_, 2) == "?<" || p_.substr(i_, 2) == "?P") {
      const size_t close = p_.find('>', i_);
      if (close == std::string_view::npos) return Error("an unterminated group name");
      i_ = close + 1;
    } else if (i_ < p_.size() && p_[i_] == '?') {
      return Error("an unknown group flag");
    }
    INFER_ASSIGN_OR_RETURN(Item item, Alternation());
    if (i_ >= p_.size() || p_[i_] != ')') return Error("a '(' without its ')'");
    ++i_;
    return Sequence{item};
  }

  // One character as the items that write it.
  Sequence Char(uint32_t cp) {
    if (mode_ == TextMode::kJsonString && (cp == '"' || cp == '\\' || cp < 0x20)) {
      return b_.Literal(EscapeForJson(cp));
    }
    return b_.Literal(Utf8(cp));
  }

  // A set of characters; in a JSON string '"', '\' and the common control characters are
  // written escaped and the other control characters left out.
  Item CharClass(CodePointRanges ranges) {
    ranges = Normalize(std::move(ranges));
    if (mode_ == TextMode::kRaw) return Builder::Ref(AddCodePoints(b_, "regex class", ranges));
    CodePointRanges plain = Subtract(ranges, {{0, 0x1F}, {'"', '"'}, {'\\', '\\'}});
    std::vector<Sequence> alts;
    if (!plain.empty()) alts.push_back({Builder::Ref(AddCodePoints(b_, "regex class", plain))});
    for (uint32_t c :
         {uint32_t{'"'}, uint32_t{'\\'}, uint32_t{'\n'}, uint32_t{'\t'}, uint32_t{'\r'}}) {
      if (Contains(ranges, c)) alts.push_back(b_.Literal(EscapeForJson(c)));
    }
    return Builder::Ref(b_.Rule("regex class", std::move(alts)));
  }

  absl::StatusOr<uint32_t> NextCodePoint() {
    const auto b0 = static_cast<uint8_t>(p_[i_]);
    int n = b0 < 0x80 ? 1 : (b0 >> 5) == 6 ? 2 : (b0 >> 4) == 14 ? 3 : (b0 >> 3) == 30 ? 4 : 0;
    if (n == 0 || i_ + static_cast<size_t>(n) > p_.size()) return Error("invalid UTF-8");
    uint32_t cp = n == 1 ? b0 : b0 & (0x3F >> (n - 1));
    for (int k = 1; k < n; ++k) {
      const auto bk = static_cast<uint8_t>(p_[i_ + static_cast<size_t>(k)]);
      if ((bk & 0xC0) != 0x80) return Error("invalid UTF-8");
      cp = (cp << 6) | (bk & 0x3F);
    }
    i_ += static_cast<size_t>(n);
    return cp;
  }

  // After '\': a class escape (\d, \w, \s and their negations) into `ranges`, or one
  // character into `cp`. `in_class`: inside [...], where \b is a backspace.
  absl::Status Escape(bool in_class, CodePointRanges* ranges, bool* is_class, uint32_t* cp) {
    if (i_ >= p_.size()) return Error("a pattern that ends with '\\'");
    const char c = p_[i_++];
    static const CodePointRanges kDigit = {{'0', '9'}};
    static const CodePointRanges kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
    static const CodePointRanges kSpace = {{'\t', '\r'}, {' ', ' '}};
    // Class escapes; the upper-case letter is the complement.
    static const std::pair<char, const CodePointRanges*> kClasses[] = {
        {'d', &kDigit}, {'w', &kWord}, {'s', &kSpace}};
    for (const auto& [letter, set] : kClasses) {
      if (c == letter || c == letter - 'a' + 'A') {
        *is_class = true;
        *ranges = c == letter ? *set : Complement(*set);
        return absl::OkStatus();
      }
    }
    *is_class = false;
    static constexpr std::pair<char, uint32_t> kControls[] = {{'n', '\n'}, {'t', '\t'}, {'r', '\r'},
                                                              {'f', '\f'}, {'v', '\v'}, {'0', 0}};
    for (const auto& [letter, code] : kControls) {
      if (c == letter) {
        *cp = code;
        return absl::OkStatus();
      }
    }
    switch (c) {
      case 'x':
        return Hex(2, cp);
      case 'u':
        if (i_ < p_.size() && p_[i_] == '{') {
          const size_t close = p_.find('}', i_);
          if (close == std::string_view::npos || close - i_ > 7) return Error("a bad \\u{...}");
          ++i_;
          return Hex(static_cast<int>(close - i_), cp, /*closing=*/true);
        }
        return Hex(4, cp);
      case 'b':
        if (in_class) {
          *cp = '\b';
          return absl::OkStatus();
        }
        return Error("word boundaries (\\b) are not supported");
      case 'B':
        return Error("word boundaries (\\B) are not supported");
      case 'k':
        return Error("backreferences are not supported");
      default:
        break;
    }
    if (c >= '1' && c <= '9') return Error("backreferences are not supported");
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      return Error(absl::StrCat("an unknown escape \\", std::string(1, c)));
    }
    --i_;
    INFER_ASSIGN_OR_RETURN(*cp, NextCodePoint());
    return absl::OkStatus();
  }

  absl::Status Hex(int digits, uint32_t* cp, bool closing = false) {
    uint32_t v = 0;
    for (int k = 0; k < digits; ++k) {
      if (i_ >= p_.size()) return Error("a short hexadecimal escape");
      const char h = p_[i_++];
      const int d = h >= '0' && h <= '9'   ? h - '0'
                    : h >= 'a' && h <= 'f' ? h - 'a' + 10
                    : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                           : -1;
      if (d < 0) return Error("a bad hexadecimal escape");
      v = v * 16 + static_cast<uint32_t>(d);
    }
    if (closing) ++i_;  // '}'
    if (v > kMaxCodePoint) return Error("a code point above U+10FFFF");
    *cp = v;
    return absl::OkStatus();
  }

  absl::StatusOr<Sequence> EscapeAtom() {
    ++i_;  // '\'
    CodePointRanges ranges;
    bool is_class = false;
    uint32_t cp = 0;
    INFER_RETURN_IF_ERROR(Escape(/*in_class=*/false, &ranges, &is_class, &cp));
    if (is_class) return Sequence{CharClass(std::move(ranges))};
    return Char(cp);
  }

  absl::StatusOr<Item> Class() {
    ++i_;  // [
    bool negate = false;
    if (i_ < p_.size() && p_[i_] == '^') {
      negate = true;
      ++i_;
    }
    CodePointRanges ranges;
    bool first = true;
    while (true) {
      if (i_ >= p_.size()) return Error("a '[' without its ']'");
      if (p_[i_] == ']' && !first) break;
      if (p_[i_] == ']' && first) {
        if (!negate) return Error("an empty class [] matches nothing");
        break;  // [^] is any character
      }
      first = false;
      INFER_ASSIGN_OR_RETURN(auto one, ClassMember());
      if (one.second) {  // a class escape cannot start a range
        ranges.insert(ranges.end(), one.first.begin(), one.first.end());
        continue;
      }
      const uint32_t lo = one.first[0].first;
      if (i_ + 1 < p_.size() && p_[i_] == '-' && p_[i_ + 1] != ']') {
        ++i_;
        INFER_ASSIGN_OR_RETURN(auto other, ClassMember());
        if (other.second) return Error("a class escape cannot end a range");
        const uint32_t hi = other.first[0].first;
        if (hi < lo) return Error("a range out of order in a class");
        ranges.emplace_back(lo, hi);
      } else {
        ranges.emplace_back(lo, lo);
      }
    }
    ++i_;  // ]
    if (negate) ranges = Complement(ranges);
    if (Normalize(ranges).empty()) return Error("a class that matches nothing");
    return CharClass(std::move(ranges));
  }

  // One member of a class: (ranges, true) for a class escape, ({{c, c}}, false) for a character.
  absl::StatusOr<std::pair<CodePointRanges, bool>> ClassMember() {
    if (p_[i_] == '\\') {
      ++i_;
      CodePointRanges ranges;
      bool is_class = false;
      uint32_t cp = 0;
      INFER_RETURN_IF_ERROR(Escape(/*in_class=*/true, &ranges, &is_class, &cp));
      if (is_class) return std::make_pair(std::move(ranges), true);
      return std::make_pair(CodePointRanges{{cp, cp}}, false);
    }
    INFER_ASSIGN_OR_RETURN(uint32_t cp, NextCodePoint());
    return std::make_pair(CodePointRanges{{cp, cp}}, false);
  }

  Builder& b_;
  std::string_view p_;
  TextMode mode_;
  size_t i_ = 0;
  int depth_ = 0;
};

bool EndsWithAnchor(std::string_view p) {
  if (p.empty() || p.back() != '$') return false;
  size_t backslashes = 0;
  for (size_t k = p.size() - 1; k > 0 && p[k - 1] == '\\'; --k) ++backslashes;
  return backslashes % 2 == 0;
}

}  // namespace

absl::StatusOr<int32_t> AddRegex(Builder& b, std::string_view pattern, TextMode mode, bool search) {
  const bool anchored_start = !pattern.empty() && pattern.front() == '^';
  if (anchored_start) pattern.remove_prefix(1);
  const bool anchored_end = EndsWithAnchor(pattern);
  if (anchored_end) pattern.remove_suffix(1);
  RegexParser parser(b, pattern, mode);
  INFER_ASSIGN_OR_RETURN(Item body, parser.Alternation());
  if (!parser.done()) {
    return parser.Error(parser.peek() == ')' ? "an unmatched ')'" : "unexpected text");
  }
  Sequence seq;
  if (search && !anchored_start) {
    seq.push_back(Builder::Ref(b.Repeat("regex prefix", parser.AnyChar(), 0, -1)));
  }
  seq.push_back(body);
  if (search && !anchored_end) {
    seq.push_back(Builder::Ref(b.Repeat("regex suffix", parser.AnyChar(), 0, -1)));
  }
  return b.Rule("regex", {std::move(seq)});
}

absl::StatusOr<Rules> CompileRegex(std::string_view pattern) {
  Builder b;
  INFER_ASSIGN_OR_RETURN(int32_t root, AddRegex(b, pattern, TextMode::kRaw, /*search=*/false));
  return b.Build(root);
}

absl::StatusOr<Rules> CompileChoices(std::span<const std::string> choices) {
  if (choices.empty()) return absl::InvalidArgumentError("choice: the list is empty");
  Builder b;
  std::vector<Sequence> alts;
  for (const std::string& c : choices) {
    if (c.empty()) return absl::InvalidArgumentError("choice: an empty string");
    alts.push_back(b.Literal(c));
  }
  return b.Build(b.Rule("choice", std::move(alts)));
}

// ---- Integer ranges ------------------------------------------------------------------------

std::string RegexAnyOf(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) absl::StrAppend(&out, out.empty() ? "(" : "|(", p, ")");
  return out;
}

namespace {

// The same-length decimal strings from lo to hi (lo <= hi), as a regex.
std::string SameLength(const std::string& lo, const std::string& hi) {
  if (lo.size() == 1) {
    return lo == hi ? lo : absl::StrCat("[", lo, "-", hi, "]");
  }
  const std::string rest_lo = lo.substr(1);
  const std::string rest_hi = hi.substr(1);
  if (lo[0] == hi[0])
    return absl::StrCat(std::string(1, lo[0]), "(", SameLength(rest_lo, rest_hi), ")");
  const std::string zeros(rest_lo.size(), '0');
  const std::string nines(rest_lo.size(), '9');
  const std::string any = absl::StrCat("[0-9]{", rest_lo.size(), "}");
  if (rest_lo == zeros && rest_hi == nines) {
    return absl::StrCat("[", std::string(1, lo[0]), "-", std::string(1, hi[0]), "]", any);
  }
  std::vector<std::string> parts;
  parts.push_back(absl::StrCat(std::string(1, lo[0]), "(", SameLength(rest_lo, nines), ")"));
  if (hi[0] - lo[0] > 1) {
    parts.push_back(absl::StrCat("[", std::string(1, static_cast<char>(lo[0] + 1)), "-",
                                 std::string(1, static_cast<char>(hi[0] - 1)), "]", any));
  }
  parts.push_back(absl::StrCat(std::string(1, hi[0]), "(", SameLength(zeros, rest_hi), ")"));
  return RegexAnyOf(parts);
}

int Digits(uint64_t v) {
  int d = 1;
  while (v >= 10) {
    v /= 10;
    ++d;
  }
  return d;
}

uint64_t Pow10(int d) {
  uint64_t v = 1;
  for (int k = 0; k < d; ++k) v *= 10;
  return v;
}

// An unbounded side stops at 16 digits (what a double holds exactly, and an end for a sampling
// model that would write digits forever).
constexpr int kMaxDigits = 16;

// Non-negative integers in [lo, hi]; hi < 0: unbounded (up to kMaxDigits digits).
std::string NonNegative(uint64_t lo, int64_t hi) {
  std::vector<std::string> parts;
  const int top = hi < 0 ? Digits(lo) : Digits(static_cast<uint64_t>(hi));
  for (int d = Digits(lo); d <= top; ++d) {
    const uint64_t first = std::max<uint64_t>(lo, d == 1 ? 0 : Pow10(d - 1));
    const uint64_t last =
        hi < 0 ? Pow10(d) - 1 : std::min<uint64_t>(static_cast<uint64_t>(hi), Pow10(d) - 1);
    if (first > last) continue;
    parts.push_back(
        absl::StrCat("(", SameLength(std::to_string(first), std::to_string(last)), ")"));
  }
  if (hi < 0 && Digits(lo) < kMaxDigits) {
    parts.push_back(absl::StrCat("[1-9][0-9]{", Digits(lo), ",", kMaxDigits - 1, "}"));
  }
  return RegexAnyOf(parts);
}

}  // namespace

std::string IntegerRangeRegex(const int64_t* lo, const int64_t* hi) {
  std::vector<std::string> parts;
  // Zero and the positive side.
  if (hi == nullptr || *hi >= 0) {
    const uint64_t from = lo == nullptr || *lo < 0 ? 0 : static_cast<uint64_t>(*lo);
    parts.push_back(NonNegative(from, hi == nullptr ? -1 : *hi));
  }
  // The negative side, as magnitudes.
  if (lo == nullptr || *lo < 0) {
    const uint64_t from = hi == nullptr || *hi >= 0 ? 1 : static_cast<uint64_t>(-(*hi + 1)) + 1;
    const int64_t to = lo == nullptr ? -1 : static_cast<int64_t>(-(*lo + 1)) + 1;
    parts.push_back(absl::StrCat("-(", NonNegative(from, to), ")"));
  }
  return RegexAnyOf(parts);
}

}  // namespace infer::grammar
