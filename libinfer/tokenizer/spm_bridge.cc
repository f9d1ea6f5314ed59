// The only file that includes sentencepiece_processor.h: it must include no Abseil header (see
// spm_bridge.h).
#include "libinfer/tokenizer/spm_bridge.h"

#include <sentencepiece_processor.h>

namespace infer {

struct SpmBridge::Impl {
  sentencepiece::SentencePieceProcessor processor;
};

SpmBridge::SpmBridge(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SpmBridge::~SpmBridge() = default;

std::unique_ptr<SpmBridge> SpmBridge::Load(std::string_view serialized_model, std::string* error) {
  auto impl = std::make_unique<Impl>();
  const auto status = impl->processor.LoadFromSerializedProto(serialized_model);
  if (!status.ok()) {
    *error = "SentencePiece model does not load: " + status.ToString();
    return nullptr;
  }
  return std::unique_ptr<SpmBridge>(new SpmBridge(std::move(impl)));
}

bool SpmBridge::Encode(std::string_view text, std::vector<int>* ids, std::string* error) const {
  const auto status = impl_->processor.Encode(text, ids);
  if (!status.ok()) {
    *error = "SentencePiece Encode failed: " + status.ToString();
    return false;
  }
  return true;
}

int SpmBridge::piece_size() const { return impl_->processor.GetPieceSize(); }
std::string SpmBridge::piece(int id) const { return impl_->processor.IdToPiece(id); }
float SpmBridge::score(int id) const { return impl_->processor.GetScore(id); }

SpmBridge::PieceKind SpmBridge::kind(int id) const {
  const auto& p = impl_->processor;
  if (p.IsUnknown(id)) return PieceKind::kUnknown;
  if (p.IsControl(id)) return PieceKind::kControl;
  if (p.IsUnused(id)) return PieceKind::kUnused;
  if (p.IsByte(id)) return PieceKind::kByte;
  return PieceKind::kNormal;
}

int SpmBridge::bos_id() const { return impl_->processor.bos_id(); }
int SpmBridge::eos_id() const { return impl_->processor.eos_id(); }
int SpmBridge::unk_id() const { return impl_->processor.unk_id(); }
int SpmBridge::pad_id() const { return impl_->processor.pad_id(); }

}  // namespace infer
