// Reading and writing the parts of SentencePiece's ModelProto (sentencepiece_model.proto) that
// tokenization depends on, directly in the protobuf wire format: libsentencepiece-dev ships no
// generated .pb.h. Used to rebuild a model from a GGUF `llama` vocabulary (tokens, scores,
// types) and to read the settings of a `tokenizer.model`.
//
// Field numbers: ModelProto { pieces = 1; trainer_spec = 2; normalizer_spec = 3 }
//   SentencePiece { piece = 1 (string); score = 2 (float); type = 3 (enum) }
//   TrainerSpec   { model_type = 3; byte_fallback = 35; unk_id = 40; bos_id = 41; eos_id = 42;
//                   pad_id = 43 }
//   NormalizerSpec { name = 1; add_dummy_prefix = 3; remove_extra_whitespaces = 4;
//                    escape_whitespaces = 5 }
#ifndef INFER_TOKENIZER_SPM_MODEL_PROTO_H_
#define INFER_TOKENIZER_SPM_MODEL_PROTO_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libinfer/tokenizer/tokenizer_spec.h"

namespace infer {

struct SpmModel {
  struct Piece {
    std::string text;
    float score = 0.0f;
    TokenType type = TokenType::kNormal;  // proto's Type has the same numbers (no kUndefined)
  };
  std::vector<Piece> pieces;
  // TrainerSpec. model_type: 1 UNIGRAM, 2 BPE, 3 WORD, 4 CHAR. Defaults are the proto's.
  int model_type = 1;
  bool byte_fallback = false;
  int unk_id = 0;
  int bos_id = 1;
  int eos_id = 2;
  int pad_id = -1;
  // NormalizerSpec.
  std::string normalizer_name;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

// Serializes `model` as a ModelProto that libsentencepiece loads.
std::string SerializeSpmModel(const SpmModel& model);

// Parses the fields above out of a serialized ModelProto (other fields are skipped).
// InvalidArgument when the bytes are not a well-formed message.
absl::StatusOr<SpmModel> ParseSpmModel(std::string_view proto);

// The model a GGUF `llama` vocabulary describes: a BPE model with byte fallback, identity
// normalization, whitespace kept as is, the dummy prefix per `spec.add_space_prefix`.
SpmModel SpmModelFromSpec(const TokenizerSpec& spec);

}  // namespace infer

#endif  // INFER_TOKENIZER_SPM_MODEL_PROTO_H_
