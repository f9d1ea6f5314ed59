#include "libinfer/tokenizer/pre_tokenizer.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libinfer/util/unicode.h"

namespace infer {
namespace {

// The text decoded once into code points with their classes and byte offsets, so that the
// scanners can look ahead freely.
class CodePoints {
 public:
  explicit CodePoints(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
      uint32_t cp = 0xFFFD;
      int len = DecodeUtf8(text.substr(i), &cp);
      if (len == 0) len = 1;  // Callers validate; never loop forever on bad input.
      cps_.push_back(cp);
      cls_.push_back(CodePointClass(cp));
      offsets_.push_back(i);
      i += len;
    }
    offsets_.push_back(text.size());
  }

  size_t size() const { return cps_.size(); }
  uint32_t cp(size_t k) const { return cps_[k]; }
  size_t offset(size_t k) const { return offsets_[k]; }
  bool Letter(size_t k) const { return k < cps_.size() && (cls_[k] & kCpLetter); }
  bool Number(size_t k) const { return k < cps_.size() && (cls_[k] & kCpNumber); }
  bool Space(size_t k) const { return k < cps_.size() && (cls_[k] & kCpWhitespace); }
  // [^\s\p{L}\p{N}]
  bool Other(size_t k) const { return k < cps_.size() && cls_[k] == 0; }
  bool Newline(size_t k) const { return k < cps_.size() && (cps_[k] == '\r' || cps_[k] == '\n'); }

  // End of the run of code points from `k` satisfying `pred` (at most `max` of them).
  template <typename Pred>
  size_t RunEnd(size_t k, Pred pred, size_t max = SIZE_MAX) const {
    size_t j = k;
    while (j < cps_.size() && j - k < max && pred(j)) ++j;
    return j;
  }

 private:
  std::vector<uint32_t> cps_;
  std::vector<uint8_t> cls_;
  std::vector<size_t> offsets_;
};

uint32_t AsciiLower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// 's|'t|'re|'ve|'m|'ll|'d at k: returns the end, or k when none matches.
size_t MatchContraction(const CodePoints& c, size_t k, bool ignore_case) {
  if (c.cp(k) != '\'' || k + 1 >= c.size()) return k;
  auto at = [&](size_t j) {
    if (j >= c.size()) return uint32_t{0};
    return ignore_case ? AsciiLower(c.cp(j)) : c.cp(j);
  };
  const uint32_t a = at(k + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return k + 2;
  const uint32_t b = at(k + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return k + 3;
  return k;
}

// \s+(?!\S)|\s+ at k (a whitespace code point): the whole run at the end of the text; otherwise
// all but the last whitespace (which then leads the next piece), or the single one.
size_t MatchTrailingSpace(const CodePoints& c, size_t k) {
  const size_t j = c.RunEnd(k, [&](size_t x) { return c.Space(x); });
  if (j == c.size() || j - k == 1) return j;
  return j - 1;
}

// The end of the GPT-2 pattern's match at k.
size_t NextGpt2(const CodePoints& c, size_t k) {
  if (size_t e = MatchContraction(c, k, /*ignore_case=*/false); e != k) return e;
  size_t start = k;
  if (c.cp(k) == ' ' && (c.Letter(k + 1) || c.Number(k + 1) || c.Other(k + 1))) start = k + 1;
  if (c.Letter(start)) return c.RunEnd(start, [&](size_t x) { return c.Letter(x); });
  if (c.Number(start)) return c.RunEnd(start, [&](size_t x) { return c.Number(x); });
  if (c.Other(start)) return c.RunEnd(start, [&](size_t x) { return c.Other(x); });
  return MatchTrailingSpace(c, k);
}

// The end of the Llama 3 (max_digits = 3) or Qwen2 (max_digits = 1) pattern's match at k.
size_t NextLlama3(const CodePoints& c, size_t k, size_t max_digits) {
  if (size_t e = MatchContraction(c, k, /*ignore_case=*/true); e != k) return e;
  auto letters = [&](size_t x) { return c.Letter(x); };
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (c.Letter(k)) return c.RunEnd(k, letters);
  if (!c.Newline(k) && !c.Number(k) && c.Letter(k + 1)) return c.RunEnd(k + 1, letters);
  // \p{N}{1,3}
  if (c.Number(k))
    return c.RunEnd(
        k, [&](size_t x) { return c.Number(x); }, max_digits);
  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  size_t start = k;
  if (c.cp(k) == ' ' && c.Other(k + 1)) start = k + 1;
  if (c.Other(start)) {
    const size_t e = c.RunEnd(start, [&](size_t x) { return c.Other(x); });
    return c.RunEnd(e, [&](size_t x) { return c.Newline(x); });
  }
  // \s*[\r\n]+ : up to and including the last newline of the whitespace run.
  const size_t j = c.RunEnd(k, [&](size_t x) { return c.Space(x); });
  for (size_t x = j; x > k; --x) {
    if (c.Newline(x - 1)) return x;
  }
  return MatchTrailingSpace(c, k);
}

void Scan(PreTokenizerKind kind, std::string_view text, std::vector<std::string_view>* pieces) {
  const CodePoints c(text);
  size_t k = 0;
  while (k < c.size()) {
    size_t e;
    switch (kind) {
      case PreTokenizerKind::kLlama3:
        e = NextLlama3(c, k, 3);
        break;
      case PreTokenizerKind::kQwen2:
        e = NextLlama3(c, k, 1);
        break;
      default:
        e = NextGpt2(c, k);
        break;
    }
    if (e <= k) e = k + 1;  // Defensive: every position is covered by the last alternative.
    pieces->push_back(text.substr(c.offset(k), c.offset(e) - c.offset(k)));
    k = e;
  }
}

}  // namespace

absl::StatusOr<PreTokenizerKind> PreTokenizerFromName(std::string_view name) {
  if (name.empty() || name == "default" || name == "gpt2") return PreTokenizerKind::kGpt2;
  if (name == "smollm") return PreTokenizerKind::kSmolLm;
  if (name == "llama-bpe" || name == "llama3") return PreTokenizerKind::kLlama3;
  if (name == "qwen2") return PreTokenizerKind::kQwen2;
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported BPE pre-tokenizer \"", std::string(name),
                   "\" (supported: default, gpt2, smollm, llama-bpe, qwen2)"));
}

void PreTokenize(PreTokenizerKind kind, std::string_view text,
                 std::vector<std::string_view>* pieces) {
  if (kind != PreTokenizerKind::kSmolLm) {
    Scan(kind, text, pieces);
    return;
  }
  // Digits(individual_digits): isolate each \p{N} code point, GPT-2 pattern in between.
  size_t i = 0;
  size_t segment = 0;
  while (i < text.size()) {
    uint32_t cp = 0;
    int len = DecodeUtf8(text.substr(i), &cp);
    if (len == 0) len = 1;
    if (CodePointClass(cp) & kCpNumber) {
      if (segment < i) Scan(PreTokenizerKind::kGpt2, text.substr(segment, i - segment), pieces);
      pieces->push_back(text.substr(i, len));
      segment = i + len;
    }
    i += len;
  }
  if (segment < text.size()) Scan(PreTokenizerKind::kGpt2, text.substr(segment), pieces);
}

}  // namespace infer
