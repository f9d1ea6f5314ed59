#include "libinfer/tokenizer/spm_tokenizer.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "libinfer/tokenizer/spm_model_proto.h"
#include "libinfer/util/status_macros.h"

namespace infer {
namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581 "▁"

// "<0xAB>" -> 0xAB; -1 when `text` is not a byte piece.
int ParseBytePiece(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int v = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = text[i];
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return -1;
    }
    v = v * 16 + d;
  }
  return v;
}

std::string ReplaceSpaceSymbol(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, kSpaceSymbol.size(), kSpaceSymbol) == 0) {
      out.push_back(' ');
      i += kSpaceSymbol.size();
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SpmTokenizer>> SpmTokenizer::Create(const TokenizerSpec& spec) {
  INFER_RETURN_IF_ERROR(ValidateTokenizerSpec(spec));
  SpmModel model;
  std::string proto;
  if (!spec.spm_model_proto.empty()) {
    INFER_ASSIGN_OR_RETURN(model, ParseSpmModel(spec.spm_model_proto));
    if (model.pieces.size() != spec.tokens.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokenizer spec: spm_model_proto has ", model.pieces.size(),
                       " pieces but `tokens` has ", spec.tokens.size()));
    }
    proto = spec.spm_model_proto;
  } else {
    model = SpmModelFromSpec(spec);
    proto = SerializeSpmModel(model);
  }
  std::string error;
  std::unique_ptr<SpmBridge> spm = SpmBridge::Load(proto, &error);
  if (spm == nullptr) return absl::InvalidArgumentError(absl::StrCat("tokenizer spec: ", error));
  return std::unique_ptr<SpmTokenizer>(
      new SpmTokenizer(spec, std::move(spm), model.add_dummy_prefix));
}

SpmTokenizer::SpmTokenizer(const TokenizerSpec& spec, std::unique_ptr<SpmBridge> spm,
                           bool dummy_prefix)
    : VocabTokenizer(spec), spm_(std::move(spm)) {
  strip_leading_space_ = dummy_prefix;
  token_bytes_.resize(spec.tokens.size());
  for (size_t i = 0; i < spec.tokens.size(); ++i) {
    const std::string& text = spec.tokens[i];
    switch (SpecTokenType(spec, static_cast<TokenId>(i))) {
      case TokenType::kControl:
      case TokenType::kUnused:
        break;
      case TokenType::kUnknown:
        token_bytes_[i] = " \xE2\x81\x87 ";  // SentencePiece's default unk surface " ⁇ ".
        break;
      case TokenType::kByte: {
        const int b = ParseBytePiece(text);
        token_bytes_[i] = b >= 0 ? std::string(1, static_cast<char>(b)) : text;
        break;
      }
      default:
        token_bytes_[i] = ReplaceSpaceSymbol(text);
    }
  }
}

absl::Status SpmTokenizer::EncodeText(std::string_view text, std::vector<TokenId>* ids) const {
  std::vector<int> out;
  std::string error;
  if (!spm_->Encode(text, &out, &error)) return absl::InternalError(error);
  ids->insert(ids->end(), out.begin(), out.end());
  return absl::OkStatus();
}

}  // namespace infer
