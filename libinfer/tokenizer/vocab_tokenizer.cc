#include "libinfer/tokenizer/vocab_tokenizer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libinfer/util/status_macros.h"
#include "libinfer/util/unicode.h"

namespace infer {
namespace {

// Texts of control tokens that end a turn in the chat formats we know.
constexpr std::string_view kEndOfTurnTexts[] = {"<|im_end|>",    "<|eot_id|>", "<|end_of_text|>",
                                                "<|endoftext|>", "<|end|>",    "<end_of_turn>",
                                                "</s>",          "<|eom_id|>"};

absl::Status CheckId(const char* field, TokenId id, size_t n) {
  if (id < -1 || id >= static_cast<TokenId>(n)) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer spec: ", field, " = ", id,
                                                   " is outside the vocabulary of ", n, " tokens"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTokenizerSpec(const TokenizerSpec& spec) {
  const size_t n = spec.tokens.size();
  if (n == 0) return absl::InvalidArgumentError("tokenizer spec: `tokens` is empty");
  if (n > static_cast<size_t>(INT32_MAX)) {
    return absl::InvalidArgumentError("tokenizer spec: too many tokens");
  }
  if (!spec.scores.empty() && spec.scores.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tokenizer spec: `scores` has ", spec.scores.size(), " entries but `tokens` has ", n));
  }
  if (!spec.token_types.empty() && spec.token_types.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer spec: `token_types` has ",
                                                   spec.token_types.size(),
                                                   " entries but `tokens` has ", n));
  }
  for (size_t i = 0; i < spec.token_types.size(); ++i) {
    const auto t = static_cast<int32_t>(spec.token_types[i]);
    if (t < 0 || t > static_cast<int32_t>(TokenType::kByte)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer spec: token_types[", i, "] = ", t, " is not a token type"));
    }
  }
  INFER_RETURN_IF_ERROR(CheckId("bos_id", spec.bos_id, n));
  INFER_RETURN_IF_ERROR(CheckId("eos_id", spec.eos_id, n));
  INFER_RETURN_IF_ERROR(CheckId("unk_id", spec.unk_id, n));
  INFER_RETURN_IF_ERROR(CheckId("pad_id", spec.pad_id, n));
  INFER_RETURN_IF_ERROR(CheckId("eot_id", spec.eot_id, n));
  if (spec.add_bos && spec.bos_id < 0) {
    return absl::InvalidArgumentError("tokenizer spec: add_bos is set but bos_id is -1");
  }
  if (spec.add_eos && spec.eos_id < 0) {
    return absl::InvalidArgumentError("tokenizer spec: add_eos is set but eos_id is -1");
  }
  return absl::OkStatus();
}

TokenType SpecTokenType(const TokenizerSpec& spec, TokenId id) {
  if (spec.token_types.empty()) return TokenType::kNormal;
  return spec.token_types[id];
}

VocabTokenizer::VocabTokenizer(const TokenizerSpec& spec)
    : tokens_(spec.tokens),
      bos_id_(spec.bos_id),
      eos_id_(spec.eos_id),
      add_bos_(spec.add_bos),
      add_eos_(spec.add_eos) {
  const size_t n = tokens_.size();
  types_.resize(n);
  end_of_generation_.assign(n, false);
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<TokenId>(i);
    types_[i] = SpecTokenType(spec, id);
    if (types_[i] == TokenType::kControl || types_[i] == TokenType::kUserDefined) {
      if (!tokens_[i].empty()) {
        specials_[static_cast<uint8_t>(tokens_[i][0])].emplace_back(tokens_[i], id);
      }
    }
    if (types_[i] == TokenType::kControl &&
        std::find(std::begin(kEndOfTurnTexts), std::end(kEndOfTurnTexts), tokens_[i]) !=
            std::end(kEndOfTurnTexts)) {
      end_of_generation_[i] = true;
    }
  }
  for (auto& list : specials_) {
    // Longest first so that "<|im_start|>" wins over a shorter token it begins with; stable so
    // that among equal texts the lowest id wins.
    std::stable_sort(list.begin(), list.end(),
                     [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  }
  if (eos_id_ >= 0) end_of_generation_[eos_id_] = true;
  if (spec.eot_id >= 0) end_of_generation_[spec.eot_id] = true;
}

absl::StatusOr<std::vector<TokenId>> VocabTokenizer::Encode(std::string_view text,
                                                            const EncodeOptions& options) const {
  if (const size_t bad = FindInvalidUtf8(text); bad != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("Encode: invalid UTF-8 at byte offset ", bad, " (byte 0x",
                     absl::Hex(static_cast<uint8_t>(text[bad]), absl::kZeroPad2), ")"));
  }
  std::vector<TokenId> ids;
  ids.reserve(text.size() / 3 + 2);
  if (options.add_bos && add_bos_) ids.push_back(bos_id_);
  size_t chunk_start = 0;
  if (options.parse_special) {
    size_t i = 0;
    while (i < text.size()) {
      const auto& candidates = specials_[static_cast<uint8_t>(text[i])];
      TokenId found = -1;
      size_t found_len = 0;
      for (const auto& [s, id] : candidates) {
        if (text.compare(i, s.size(), s) == 0) {
          found = id;
          found_len = s.size();
          break;
        }
      }
      if (found < 0) {
        ++i;
        continue;
      }
      if (chunk_start < i) {
        INFER_RETURN_IF_ERROR(EncodeText(text.substr(chunk_start, i - chunk_start), &ids));
      }
      ids.push_back(found);
      i += found_len;
      chunk_start = i;
    }
  }
  if (chunk_start < text.size()) INFER_RETURN_IF_ERROR(EncodeText(text.substr(chunk_start), &ids));
  if (options.add_bos && add_eos_) ids.push_back(eos_id_);
  return ids;
}

absl::StatusOr<std::string> VocabTokenizer::Decode(std::span<const TokenId> ids,
                                                   bool keep_special) const {
  std::string out;
  bool at_start = true;
  for (const TokenId id : ids) {
    if (id < 0 || id >= vocab_size()) {
      return absl::OutOfRangeError(
          absl::StrCat("Decode: token id ", id, " is outside the vocabulary of ", vocab_size()));
    }
    if (types_[id] == TokenType::kControl) {
      if (keep_special) out += tokens_[id];
      continue;
    }
    std::string_view piece = token_bytes_[id];
    if (at_start && !piece.empty()) {
      if (strip_leading_space_ && piece[0] == ' ') piece.remove_prefix(1);
      at_start = false;
    }
    out.append(piece);
  }
  return out;
}

bool VocabTokenizer::IsEndOfGeneration(TokenId id) const {
  return id >= 0 && id < vocab_size() && end_of_generation_[id];
}

bool VocabTokenizer::IsSpecial(TokenId id) const {
  return id >= 0 && id < vocab_size() && types_[id] == TokenType::kControl;
}

}  // namespace infer
