// Qwen3 (dense): Llama's decoder with an RMSNorm over each head of Q and of K before RoPE, and
// RoPE over halves (the GGUF converter leaves Qwen's Q/K rows unpermuted); no attention biases.
#include "libinfer/model/decoder_family.h"

namespace infer {

const DecoderFamily& Qwen3Family() {
  static constexpr DecoderFamily kFamily{.name = "qwen3", .qk_norm = true};
  return kFamily;
}

}  // namespace infer
