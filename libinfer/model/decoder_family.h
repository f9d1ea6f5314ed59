// What a model family's decoder layers do beyond the Llama recipe that LlamaModel runs: stated
// once per family, in that family's own file (llama.cc for Llama, Mistral and Qwen2; qwen3.cc;
// ...), and read by the shared runner. The runner factory picks the family from the file's
// architecture (libinfer/format/architecture.h's RunnerKind).
#ifndef INFER_MODEL_DECODER_FAMILY_H_
#define INFER_MODEL_DECODER_FAMILY_H_

#include <string_view>

namespace infer {

struct DecoderFamily {
  std::string_view name;
  // Per-head RMSNorm of the queries and keys (blk.N.attn_q_norm / attn_k_norm, [head_dim]
  // weights shared by every head), after the projections and before RoPE.
  bool qk_norm = false;
};

// Llama 2/3, Mistral, SmolLM2, Qwen2: pre-norm, RoPE, GQA, SwiGLU (llama.cc).
const DecoderFamily& LlamaFamily();
// Qwen3: Llama's layers with per-head Q/K RMSNorm (qwen3.cc).
const DecoderFamily& Qwen3Family();

}  // namespace infer

#endif  // INFER_MODEL_DECODER_FAMILY_H_
