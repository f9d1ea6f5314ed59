#include "libinfer/tokenizer/spm_model_proto.h"

#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libinfer/tokenizer/vocab_tokenizer.h"
#include "libinfer/util/status_macros.h"

namespace infer {
namespace {

enum WireType { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutTag(int field, WireType type, std::string* out) {
  PutVarint((static_cast<uint64_t>(field) << 3) | type, out);
}

// int32 fields are sign-extended to 64 bits on the wire (10 bytes when negative).
void PutInt(int field, int64_t v, std::string* out) {
  PutTag(field, kVarint, out);
  PutVarint(static_cast<uint64_t>(v), out);
}

void PutBytes(int field, std::string_view v, std::string* out) {
  PutTag(field, kLengthDelimited, out);
  PutVarint(v.size(), out);
  out->append(v);
}

void PutFloat(int field, float v, std::string* out) {
  PutTag(field, kFixed32, out);
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
}

// A cursor over one message's bytes.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }

  absl::StatusOr<uint64_t> Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return Error("truncated varint");
      const auto b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    return Error("varint longer than 10 bytes");
  }

  // Reads one field: its number, wire type, and value (varint / fixed value or the bytes).
  absl::Status Field(int* field, int* type, uint64_t* value, std::string_view* bytes) {
    INFER_ASSIGN_OR_RETURN(const uint64_t tag, Varint());
    *field = static_cast<int>(tag >> 3);
    *type = static_cast<int>(tag & 7);
    switch (*type) {
      case kVarint: {
        INFER_ASSIGN_OR_RETURN(*value, Varint());
        return absl::OkStatus();
      }
      case kFixed64:
      case kFixed32: {
        const size_t n = *type == kFixed64 ? 8 : 4;
        if (data_.size() - pos_ < n) return Error("truncated fixed-width field");
        *value = 0;
        for (size_t i = 0; i < n; ++i) {
          *value |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
        }
        pos_ += n;
        return absl::OkStatus();
      }
      case kLengthDelimited: {
        INFER_ASSIGN_OR_RETURN(const uint64_t n, Varint());
        if (n > data_.size() - pos_) return Error("length-delimited field past the end");
        *bytes = data_.substr(pos_, n);
        pos_ += n;
        return absl::OkStatus();
      }
      default:
        return Error(absl::StrCat("unsupported wire type ", *type));
    }
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("SentencePiece model proto: ", std::string(what), " at byte ", pos_));
  }

  std::string_view data_;
  size_t pos_ = 0;
};

float FloatFromBits(uint64_t v) {
  const auto bits = static_cast<uint32_t>(v);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

absl::Status ParsePiece(std::string_view bytes, SpmModel::Piece* piece) {
  Reader r(bytes);
  while (!r.done()) {
    int field, type;
    uint64_t value = 0;
    std::string_view sub;
    INFER_RETURN_IF_ERROR(r.Field(&field, &type, &value, &sub));
    if (field == 1 && type == kLengthDelimited) piece->text = std::string(sub);
    if (field == 2 && type == kFixed32) piece->score = FloatFromBits(value);
    if (field == 3 && type == kVarint) piece->type = static_cast<TokenType>(value);
  }
  return absl::OkStatus();
}

}  // namespace

std::string SerializeSpmModel(const SpmModel& model) {
  std::string out;
  for (const SpmModel::Piece& p : model.pieces) {
    std::string msg;
    PutBytes(1, p.text, &msg);
    PutFloat(2, p.score, &msg);
    const int type = p.type == TokenType::kUndefined ? 1 : static_cast<int>(p.type);
    PutInt(3, type, &msg);
    PutBytes(1, msg, &out);
  }
  std::string trainer;
  PutInt(3, model.model_type, &trainer);
  PutInt(35, model.byte_fallback ? 1 : 0, &trainer);
  PutInt(40, model.unk_id, &trainer);
  PutInt(41, model.bos_id, &trainer);
  PutInt(42, model.eos_id, &trainer);
  PutInt(43, model.pad_id, &trainer);
  PutBytes(2, trainer, &out);
  std::string normalizer;
  PutBytes(1, model.normalizer_name, &normalizer);
  PutInt(3, model.add_dummy_prefix ? 1 : 0, &normalizer);
  PutInt(4, model.remove_extra_whitespaces ? 1 : 0, &normalizer);
  PutInt(5, model.escape_whitespaces ? 1 : 0, &normalizer);
  PutBytes(3, normalizer, &out);
  return out;
}

absl::StatusOr<SpmModel> ParseSpmModel(std::string_view proto) {
  SpmModel model;
  Reader top(proto);
  while (!top.done()) {
    int field, type;
    uint64_t value = 0;
    std::string_view bytes;
    INFER_RETURN_IF_ERROR(top.Field(&field, &type, &value, &bytes));
    if (type != kLengthDelimited) continue;
    if (field == 1) {
      SpmModel::Piece piece;
      INFER_RETURN_IF_ERROR(ParsePiece(bytes, &piece));
      model.pieces.push_back(std::move(piece));
    } else if (field == 2 || field == 3) {
      Reader r(bytes);
      while (!r.done()) {
        int f, t;
        uint64_t v = 0;
        std::string_view b;
        INFER_RETURN_IF_ERROR(r.Field(&f, &t, &v, &b));
        const auto i = static_cast<int>(static_cast<int64_t>(v));
        if (field == 2 && t == kVarint) {
          if (f == 3) model.model_type = i;
          if (f == 35) model.byte_fallback = v != 0;
          if (f == 40) model.unk_id = i;
          if (f == 41) model.bos_id = i;
          if (f == 42) model.eos_id = i;
          if (f == 43) model.pad_id = i;
        } else if (field == 3) {
          if (f == 1 && t == kLengthDelimited) model.normalizer_name = std::string(b);
          if (f == 3 && t == kVarint) model.add_dummy_prefix = v != 0;
          if (f == 4 && t == kVarint) model.remove_extra_whitespaces = v != 0;
          if (f == 5 && t == kVarint) model.escape_whitespaces = v != 0;
        }
      }
    }
  }
  return model;
}

SpmModel SpmModelFromSpec(const TokenizerSpec& spec) {
  SpmModel model;
  model.model_type = 2;  // BPE
  model.byte_fallback = true;
  model.normalizer_name = "identity";
  model.add_dummy_prefix = spec.add_space_prefix;
  model.remove_extra_whitespaces = false;
  model.escape_whitespaces = true;
  model.unk_id = spec.unk_id;
  model.bos_id = spec.bos_id;
  model.eos_id = spec.eos_id;
  model.pad_id = spec.pad_id;
  model.pieces.resize(spec.tokens.size());
  for (size_t i = 0; i < spec.tokens.size(); ++i) {
    model.pieces[i].text = spec.tokens[i];
    model.pieces[i].score = spec.scores.empty() ? 0.0f : spec.scores[i];
    model.pieces[i].type = SpecTokenType(spec, static_cast<TokenId>(i));
  }
  return model;
}

}  // namespace infer
