// StreamDecoder (include/infer/tokenizer.h): emits only whole UTF-8 characters.
#include <span>

#include "infer/tokenizer.h"
#include "libinfer/util/unicode.h"

namespace infer {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Moves every complete character at the front of `*pending` to `*out`; invalid sequences become
// U+FFFD. With `final`, a truncated tail is replaced too; otherwise it stays pending, since
// the next token may complete it.
void Drain(std::string* pending, bool final, std::string* out) {
  const std::string_view p = *pending;
  size_t i = 0;
  while (i < p.size()) {
    uint32_t cp;
    const int len = DecodeUtf8(p.substr(i), &cp);
    if (len > 0) {
      out->append(p.substr(i, len));
      i += len;
      continue;
    }
    // Is this a prefix of a valid sequence that the next bytes may still complete?
    const int want = Utf8SequenceLength(static_cast<uint8_t>(p[i]));
    bool prefix = want > 0 && p.size() - i < static_cast<size_t>(want);
    for (size_t k = i + 1; prefix && k < p.size(); ++k) {
      prefix = (static_cast<uint8_t>(p[k]) & 0xC0) == 0x80;
    }
    if (prefix && p.size() - i >= 2) {
      // Reject prefixes already known to be overlong / surrogate / too large.
      const auto b0 = static_cast<uint8_t>(p[i]);
      const auto b1 = static_cast<uint8_t>(p[i + 1]);
      if ((b0 == 0xE0 && b1 < 0xA0) || (b0 == 0xED && b1 >= 0xA0) || (b0 == 0xF0 && b1 < 0x90) ||
          (b0 == 0xF4 && b1 >= 0x90)) {
        prefix = false;
      }
    }
    if (prefix && !final) break;
    if (prefix) {  // A truncated character at the end: one replacement for all of it.
      out->append(kReplacement);
      i = p.size();
      break;
    }
    out->append(kReplacement);  // One invalid byte.
    ++i;
  }
  pending->erase(0, i);
}

}  // namespace

std::string StreamDecoder::Push(TokenId id) {
  if (id < 0 || id >= tokenizer_->vocab_size()) return "";
  if (at_start_) {
    // Tokens that decode to nothing (control tokens) leave the stream at its start. The first
    // one with text goes through Decode(), which applies the start-of-text rule (SentencePiece
    // drops its dummy-prefix space).
    if (tokenizer_->IsSpecial(id) || tokenizer_->TokenBytes(id).empty()) return "";
    const TokenId one[1] = {id};
    auto text = tokenizer_->Decode(std::span<const TokenId>(one, 1));
    if (!text.ok()) return "";
    pending_ += *text;
    at_start_ = false;
  } else {
    pending_ += tokenizer_->TokenBytes(id);
  }
  std::string out;
  Drain(&pending_, /*final=*/false, &out);
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out;
  Drain(&pending_, /*final=*/true, &out);
  return out;
}

}  // namespace infer
