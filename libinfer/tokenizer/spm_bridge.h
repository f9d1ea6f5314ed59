// A thin wrapper over libsentencepiece's SentencePieceProcessor with plain std types only.
//
// Debian's sentencepiece_processor.h declares `namespace absl { using std::string_view; }`, which
// clashes with the real Abseil; it is included by spm_bridge.cc alone, which includes no Abseil
// header. Nothing here may include Abseil either.
#ifndef INFER_TOKENIZER_SPM_BRIDGE_H_
#define INFER_TOKENIZER_SPM_BRIDGE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace infer {

class SpmBridge {
 public:
  // Per-piece kinds, as SentencePiece classifies them.
  // (libsentencepiece has no query for user-defined pieces: they report kNormal.)
  enum class PieceKind { kNormal, kUnknown, kControl, kUnused, kByte };

  // Loads a serialized ModelProto. nullptr with `*error` set when it does not parse.
  static std::unique_ptr<SpmBridge> Load(std::string_view serialized_model, std::string* error);

  ~SpmBridge();
  SpmBridge(const SpmBridge&) = delete;
  SpmBridge& operator=(const SpmBridge&) = delete;

  // Text -> ids (SentencePiece's own normalization and dummy-prefix rules). False with `*error`
  // set on failure. Thread-safe (const).
  bool Encode(std::string_view text, std::vector<int>* ids, std::string* error) const;

  int piece_size() const;
  std::string piece(int id) const;
  float score(int id) const;
  PieceKind kind(int id) const;
  int bos_id() const;  // -1 when undefined
  int eos_id() const;
  int unk_id() const;
  int pad_id() const;

 private:
  struct Impl;
  explicit SpmBridge(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace infer

#endif  // INFER_TOKENIZER_SPM_BRIDGE_H_
