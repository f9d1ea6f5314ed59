// Phi-3, Phi-3.5 and Phi-4-mini: Llama's decoder with the gate and up projections fused in one
// tensor (ffn_up: the gate's rows first). The rest are facts every family may have and the
// shared runner reads from the file: a fused QKV projection (attn_qkv), RoPE over part of each
// head (rope.dimension_count), LongRoPE's per-frequency factors (rope_factors_long/short, the
// long ones for a context beyond rope.scaling.original_context_length) and its attention factor
// (rope.scaling.attn_factor).
#include "libinfer/model/decoder_family.h"

namespace infer {

const DecoderFamily& Phi3Family() {
  static constexpr DecoderFamily kFamily{.name = "phi3", .fused_gate_up = true};
  return kFamily;
}

}  // namespace infer
