// Gemma 2 and Gemma 3 text models: Llama's decoder with GELU (tanh form) gating, the embedding
// scaled by sqrt(hidden_size), an RMSNorm on each block's output before the residual (the GGUF
// converter has already folded Gemma's (1 + w) into the stored norm weights), sliding-window
// layers interleaved with global ones and soft-capped logits where the config says so (read by
// the GGUF reader with the family's defaults from libinfer/format/architecture.cc). Gemma 3 adds
// per-head Q/K norms, and its sliding layers rotate with their own RoPE base.
#include <cmath>

#include "libinfer/model/decoder_family.h"

namespace infer {
namespace {

// Gemma scales queries by 1 / sqrt(query_pre_attn_scalar): head_dim for every size but the
// 27B models, whose scalar is hidden_size / num_heads. GGUF files do not carry it; the 27B
// models are the ones with 46 (Gemma 2) or 62 (Gemma 3) layers, as llama.cpp tells them apart.
float QueryScale(const ModelConfig& c, int64_t layers_of_27b) {
  const double scalar = c.num_layers == layers_of_27b
                            ? static_cast<double>(c.hidden_size) / static_cast<double>(c.num_heads)
                            : static_cast<double>(c.head_dim);
  return static_cast<float>(1.0 / std::sqrt(scalar));
}

float Gemma2Scale(const ModelConfig& c) { return QueryScale(c, 46); }
float Gemma3Scale(const ModelConfig& c) { return QueryScale(c, 62); }

}  // namespace

const DecoderFamily& Gemma2Family() {
  static constexpr DecoderFamily kFamily{.name = "gemma2",
                                         .activation = FfnActivation::kGeluTanh,
                                         .scale_embeddings = true,
                                         .post_norms = true,
                                         .attention_scale = &Gemma2Scale};
  return kFamily;
}

const DecoderFamily& Gemma3Family() {
  static constexpr DecoderFamily kFamily{.name = "gemma3",
                                         .qk_norm = true,
                                         .activation = FfnActivation::kGeluTanh,
                                         .scale_embeddings = true,
                                         .post_norms = true,
                                         .attention_scale = &Gemma3Scale};
  return kFamily;
}

}  // namespace infer
