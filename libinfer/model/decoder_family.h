// What a model family's decoder layers do beyond the Llama recipe that LlamaModel runs: stated
// once per family, in that family's own file (llama.cc for Llama, Mistral and Qwen2; qwen3.cc;
// ...), and read by the shared runner. The runner factory picks the family from the file's
// architecture (libinfer/format/architecture.h's RunnerKind).
#ifndef INFER_MODEL_DECODER_FAMILY_H_
#define INFER_MODEL_DECODER_FAMILY_H_

#include <string_view>

#include "libinfer/backend/backend.h"  // FfnActivation
#include "libinfer/format/model_config.h"

namespace infer {

struct DecoderFamily {
  std::string_view name;
  // Per-head RMSNorm of the queries and keys (blk.N.attn_q_norm / attn_k_norm, [head_dim]
  // weights shared by every head), after the projections and before RoPE.
  bool qk_norm = false;
  FfnActivation activation = FfnActivation::kSilu;
  // The hidden states start as the token embedding times sqrt(hidden_size).
  bool scale_embeddings = false;
  // Each block's output is RMS-normed (blk.N.post_attention_norm / post_ffw_norm) before it
  // joins the residual stream; ffn_norm is then the norm before the feed-forward, as always.
  bool post_norms = false;
  // blk.N.ffn_up holds the gate's rows and then the up projection's (Phi-3); no ffn_gate.
  bool fused_gate_up = false;
  // The attention score scale for a config; null: 1 / sqrt(head_dim).
  float (*attention_scale)(const ModelConfig& config) = nullptr;
};

// Llama 2/3, Mistral, SmolLM2, Qwen2: pre-norm, RoPE, GQA, SwiGLU (llama.cc).
const DecoderFamily& LlamaFamily();
// Qwen3: Llama's layers with per-head Q/K RMSNorm (qwen3.cc).
const DecoderFamily& Qwen3Family();
// Gemma 2 and Gemma 3 (gemma.cc).
const DecoderFamily& Gemma2Family();
const DecoderFamily& Gemma3Family();
// Phi-3 / Phi-3.5 / Phi-4-mini (phi3.cc).
const DecoderFamily& Phi3Family();

}  // namespace infer

#endif  // INFER_MODEL_DECODER_FAMILY_H_
