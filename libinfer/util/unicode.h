// UTF-8 and Unicode character-class helpers for the tokenizers: decoding, validation, and the
// \p{L} / \p{N} / White_Space classes the BPE pre-tokenizers match on.
#ifndef INFER_UTIL_UNICODE_H_
#define INFER_UTIL_UNICODE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace infer {

namespace unicode_internal {
// One run of code points [first, last] sharing the same class bits (kCpLetter | ...).
struct CodePointRange {
  uint32_t first;
  uint32_t last;
  uint8_t flags;
};
// Sorted, non-overlapping; generated into unicode_tables.cc.
extern const CodePointRange kCodePointRanges[];
extern const int kNumCodePointRanges;
}  // namespace unicode_internal

// Class bits of a code point.
inline constexpr uint8_t kCpLetter = 1;      // General_Category L*  (\p{L})
inline constexpr uint8_t kCpNumber = 2;      // General_Category N*  (\p{N})
inline constexpr uint8_t kCpWhitespace = 4;  // White_Space property (\s)

// The class bits of `cp` (0 for anything else, including invalid code points).
uint8_t CodePointClass(uint32_t cp);

// Returns the byte offset of the first invalid UTF-8 sequence in `text` (overlong forms,
// surrogates, values above U+10FFFF and truncated sequences are invalid), or npos if it is
// entirely valid.
size_t FindInvalidUtf8(std::string_view text);

// Length in bytes of the valid UTF-8 sequence at the start of `text`, 0 when it is invalid or
// truncated (including empty input). `*cp` receives the code point when valid.
int DecodeUtf8(std::string_view text, uint32_t* cp);

// Length of the sequence a UTF-8 lead byte announces (1..4), 0 for a continuation or invalid byte.
int Utf8SequenceLength(uint8_t lead);

// Appends the UTF-8 encoding of `cp` (must be a valid scalar value).
void AppendUtf8(uint32_t cp, std::string* out);

}  // namespace infer

#endif  // INFER_UTIL_UNICODE_H_
