#include <algorithm>
#include <string>
#include <vector>

#include "libinfer/jinja/value.h"
#include "libinfer/util/unicode.h"

// UTF-8 strings with Python's code-point semantics (see value.h).
namespace infer::jinja {
namespace {

// Code points standing for bytes that are not valid UTF-8 (Python's "surrogateescape" trick):
// they decode to U+DC80..U+DCFF and encode back to the original byte.
constexpr uint32_t kEscapedByteBase = 0xDC00;

uint32_t UpperCodePoint(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0x80) return c;
  if (c == 0xB5) return 0x39C;
  if (c >= 0xE0 && c <= 0xFE && c != 0xF7) return c - 0x20;
  if (c == 0xFF) return 0x178;
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c & ~1u;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c % 2 == 0) ? c - 1 : c;
  if (c == 0x3C2) return 0x3A3;
  if (c >= 0x3B1 && c <= 0x3C9) return c - 0x20;
  if (c == 0x3AC) return 0x386;
  if (c >= 0x3AD && c <= 0x3AF) return c - 0x25;
  if (c == 0x3CC) return 0x38C;
  if (c == 0x3CD || c == 0x3CE) return c - 0x3F;
  if (c >= 0x430 && c <= 0x44F) return c - 0x20;
  if (c >= 0x450 && c <= 0x45F) return c - 0x50;
  return c;
}

uint32_t LowerCodePoint(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return c;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
  if (c == 0x178) return 0xFF;
  if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) return c | 1u;
  if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c % 2 == 1) ? c + 1 : c;
  if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) return c + 0x20;
  if (c == 0x386) return 0x3AC;
  if (c >= 0x388 && c <= 0x38A) return c + 0x25;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 0x3F;
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;
  return c;
}

}  // namespace

bool IsEscapedByte(uint32_t cp) { return cp >= 0xDC80 && cp <= 0xDCFF; }

void AppendCodePoint(uint32_t cp, std::string* out) {
  if (IsEscapedByte(cp)) {
    out->push_back(static_cast<char>(cp - kEscapedByteBase));
  } else {
    AppendUtf8(cp, out);
  }
}

// ---- UTF-8 strings ----------------------------------------------------------------------------

std::vector<uint32_t> DecodeCodePoints(std::string_view s) {
  std::vector<uint32_t> cps;
  cps.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      cps.push_back(b);
      ++i;
      continue;
    }
    uint32_t cp = 0;
    const int len = DecodeUtf8(s.substr(i), &cp);
    if (len <= 0) {
      cps.push_back(kEscapedByteBase + b);
      ++i;
    } else {
      cps.push_back(cp);
      i += static_cast<size_t>(len);
    }
  }
  return cps;
}

std::string EncodeCodePoints(const std::vector<uint32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (uint32_t c : cps) AppendCodePoint(c, &out);
  return out;
}

size_t CodePointLength(std::string_view s) {
  size_t n = 0;
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    int len = 1;
    if (b >= 0x80) {
      uint32_t cp = 0;
      len = std::max(1, DecodeUtf8(s.substr(i), &cp));
    }
    i += static_cast<size_t>(len);
    ++n;
  }
  return n;
}

bool IsPySpace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

std::string PyStrip(std::string_view s, const std::string* chars, bool left, bool right) {
  if (chars == nullptr) {
    // Fast path for ASCII edges.
    size_t begin = 0;
    size_t end = s.size();
    const auto ascii_space = [](unsigned char c) {
      return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
    };
    if (left) {
      while (begin < end && ascii_space(static_cast<unsigned char>(s[begin]))) ++begin;
    }
    if (right) {
      while (end > begin && ascii_space(static_cast<unsigned char>(s[end - 1]))) --end;
    }
    s = s.substr(begin, end - begin);
    if (s.empty() || (static_cast<unsigned char>(s.front()) < 0x80 &&
                      static_cast<unsigned char>(s.back()) < 0x80)) {
      return std::string(s);
    }
  }
  const std::vector<uint32_t> cps = DecodeCodePoints(s);
  std::vector<uint32_t> set;
  if (chars != nullptr) set = DecodeCodePoints(*chars);
  const auto strip = [&](uint32_t c) {
    return chars == nullptr ? IsPySpace(c) : std::find(set.begin(), set.end(), c) != set.end();
  };
  size_t begin = 0;
  size_t end = cps.size();
  if (left) {
    while (begin < end && strip(cps[begin])) ++begin;
  }
  if (right) {
    while (end > begin && strip(cps[end - 1])) --end;
  }
  return EncodeCodePoints(std::vector<uint32_t>(cps.begin() + static_cast<std::ptrdiff_t>(begin),
                                                cps.begin() + static_cast<std::ptrdiff_t>(end)));
}

std::string PyUpper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (uint32_t c : DecodeCodePoints(s)) {
    if (c == 0xDF) {
      out.append("SS");  // ß
      continue;
    }
    AppendCodePoint(UpperCodePoint(c), &out);
  }
  return out;
}

std::string PyLower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (uint32_t c : DecodeCodePoints(s)) AppendCodePoint(LowerCodePoint(c), &out);
  return out;
}

}  // namespace infer::jinja
