#include "libinfer/util/unicode.h"

#include <algorithm>
#include <array>

namespace infer {
namespace {

// ASCII is by far the most common input: classify it with a direct table.
std::array<uint8_t, 128> MakeAsciiTable() {
  std::array<uint8_t, 128> t{};
  for (int c = 0; c < 128; ++c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) t[c] = kCpLetter;
    if (c >= '0' && c <= '9') t[c] = kCpNumber;
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) t[c] = kCpWhitespace;
  }
  return t;
}

const std::array<uint8_t, 128> kAsciiTable = MakeAsciiTable();

}  // namespace

uint8_t CodePointClass(uint32_t cp) {
  if (cp < 128) return kAsciiTable[cp];
  using unicode_internal::kCodePointRanges;
  const auto* begin = kCodePointRanges;
  const auto* end = kCodePointRanges + unicode_internal::kNumCodePointRanges;
  // First range whose `last` is >= cp.
  const auto* it = std::lower_bound(
      begin, end, cp,
      [](const unicode_internal::CodePointRange& r, uint32_t v) { return r.last < v; });
  if (it == end || it->first > cp) return 0;
  return it->flags;
}

int Utf8SequenceLength(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

int DecodeUtf8(std::string_view text, uint32_t* cp) {
  if (text.empty()) return 0;
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const int len = Utf8SequenceLength(s[0]);
  if (len == 0 || static_cast<size_t>(len) > text.size()) return 0;
  if (len == 1) {
    *cp = s[0];
    return 1;
  }
  uint32_t v = s[0] & (0x7F >> len);
  for (int i = 1; i < len; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  // Reject overlong forms (2-byte ones are excluded by the lead-byte check), surrogates and
  // values past U+10FFFF.
  if ((len == 3 && v < 0x800) || (len == 4 && v < 0x10000) || v > 0x10FFFF ||
      (v >= 0xD800 && v <= 0xDFFF)) {
    return 0;
  }
  *cp = v;
  return len;
}

size_t FindInvalidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (static_cast<uint8_t>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    uint32_t cp;
    const int len = DecodeUtf8(text.substr(i), &cp);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace infer
