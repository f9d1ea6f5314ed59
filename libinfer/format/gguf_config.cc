#include "libinfer/format/gguf_config.h"

#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libinfer/format/architecture.h"
#include "libinfer/format/config_validation.h"
#include "libinfer/util/status_macros.h"

namespace infer {
namespace {

absl::Status Bad(const GgufFile& f, const std::string& key, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(f.display_name(), ": key '", key, "': ", what));
}

// A positive integer (that fits int64) at `key`, or `fallback` when absent (< 0: required).
absl::StatusOr<int64_t> PositiveInt(const GgufFile& f, const std::string& key,
                                    int64_t fallback = -1) {
  if (!f.Has(key) && fallback >= 0) return fallback;
  INFER_ASSIGN_OR_RETURN(int64_t v, f.GetInt64(key));
  if (v <= 0) return Bad(f, key, absl::StrCat("is ", v, " (expected a positive integer)"));
  return v;
}

absl::StatusOr<float> FloatOr(const GgufFile& f, const std::string& key, float fallback) {
  if (!f.Has(key)) return fallback;
  INFER_ASSIGN_OR_RETURN(double v, f.GetFloat(key));
  return static_cast<float>(v);
}

// general.file_type: llama.h's llama_ftype (gaps are retired codes).
constexpr std::pair<int64_t, std::string_view> kFileTypes[] = {
    {0, "F32"},      {1, "F16"},      {2, "Q4_0"},    {3, "Q4_1"},    {7, "Q8_0"},
    {8, "Q5_0"},     {9, "Q5_1"},     {10, "Q2_K"},   {11, "Q3_K_S"}, {12, "Q3_K_M"},
    {13, "Q3_K_L"},  {14, "Q4_K_S"},  {15, "Q4_K_M"}, {16, "Q5_K_S"}, {17, "Q5_K_M"},
    {18, "Q6_K"},    {19, "IQ2_XXS"}, {20, "IQ2_XS"}, {21, "Q2_K_S"}, {22, "IQ3_XS"},
    {23, "IQ3_XXS"}, {24, "IQ1_S"},   {25, "IQ4_NL"}, {26, "IQ3_S"},  {27, "IQ3_M"},
    {28, "IQ2_S"},   {29, "IQ2_M"},   {30, "IQ4_XS"}, {31, "IQ1_M"},  {32, "BF16"},
    {36, "TQ1_0"},   {37, "TQ2_0"},
};

// The name of general.file_type, "ftype N" for a code this table does not know, or empty when
// the key is absent. Only descriptive: the tensors' own types decide how they are read.
absl::StatusOr<std::string> FileTypeName(const GgufFile& f) {
  if (!f.Has("general.file_type")) return std::string();
  INFER_ASSIGN_OR_RETURN(int64_t code, f.GetInt64("general.file_type"));
  for (const auto& [value, name] : kFileTypes) {
    if (value == code) return std::string(name);
  }
  return absl::StrCat("ftype ", code);
}

// RoPE scaling: <arch>.rope.scaling.* (or the older rope.scale_linear), the frequency-factor
// tensors (Llama 3.1's rope_freqs, LongRoPE's long/short factors) and the attention factor.
absl::Status ReadRopeScaling(const GgufFile& f, const std::string& p, ModelConfig* out) {
  ModelConfig& c = *out;
  const std::string scaling_key = p + "rope.scaling.type";
  if (f.Has(scaling_key)) {
    INFER_ASSIGN_OR_RETURN(std::string type, f.GetString(scaling_key));
    if (type == "linear") {
      c.rope_scaling = RopeScalingType::kLinear;
      if (!f.Has(p + "rope.scaling.factor")) return Bad(f, p + "rope.scaling.factor", "missing");
      INFER_ASSIGN_OR_RETURN(c.rope_scaling_factor, FloatOr(f, p + "rope.scaling.factor", 1.0f));
    } else if (type != "none") {
      return Bad(f, scaling_key,
                 absl::StrCat("unsupported value '", type, "' (expected none or linear)"));
    }
  } else if (f.Has(p + "rope.scale_linear")) {  // older converters
    c.rope_scaling = RopeScalingType::kLinear;
    INFER_ASSIGN_OR_RETURN(c.rope_scaling_factor, FloatOr(f, p + "rope.scale_linear", 1.0f));
  }
  const bool has_original = f.Has(p + "rope.scaling.original_context_length");
  if (has_original) {
    INFER_ASSIGN_OR_RETURN(c.rope_original_context_length,
                           PositiveInt(f, p + "rope.scaling.original_context_length"));
  }
  INFER_ASSIGN_OR_RETURN(c.rope_attn_factor, FloatOr(f, p + "rope.scaling.attn_factor", 1.0f));
  if (f.FindTensor("rope_freqs.weight") != nullptr) {
    c.rope_freq_factors_tensor = "rope_freqs.weight";
  } else if (f.FindTensor("rope_factors_long.weight") != nullptr) {
    // LongRoPE (Phi-3 128k): the long factors for a context beyond the original one, else the
    // short ones.
    const bool long_context = has_original && c.context_length > c.rope_original_context_length;
    c.rope_freq_factors_tensor =
        long_context ? "rope_factors_long.weight" : "rope_factors_short.weight";
  }
  return absl::OkStatus();
}

// The keys only some families have: interleaved sliding windows and soft caps, with the family's
// defaults (libinfer/format/architecture.cc) where the file is silent.
absl::Status ReadFamilyKeys(const GgufFile& f, const std::string& p, const Architecture& family,
                            ModelConfig* out) {
  ModelConfig& c = *out;
  const SlidingLayers& sliding = family.sliding_layers;
  if (sliding.pattern > 0) {
    INFER_ASSIGN_OR_RETURN(c.sliding_window,
                           PositiveInt(f, p + "attention.sliding_window", sliding.default_window));
    INFER_ASSIGN_OR_RETURN(c.sliding_window_pattern,
                           PositiveInt(f, p + "attention.sliding_window_pattern", sliding.pattern));
    const float global_theta = c.rope_theta;
    INFER_ASSIGN_OR_RETURN(
        c.rope_theta_swa,
        FloatOr(f, p + "rope.freq_base_swa",
                sliding.default_rope_theta > 0 ? sliding.default_rope_theta : global_theta));
  }
  INFER_ASSIGN_OR_RETURN(c.attn_logit_softcap,
                         FloatOr(f, p + "attn_logit_softcapping", family.default_attn_softcap));
  INFER_ASSIGN_OR_RETURN(c.final_logit_softcap,
                         FloatOr(f, p + "final_logit_softcapping", family.default_final_softcap));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelConfig> ModelConfigFromGguf(const GgufFile& f) {
  ModelConfig c;
  INFER_ASSIGN_OR_RETURN(c.architecture, f.GetString("general.architecture"));
  const std::string& arch = c.architecture;
  const Architecture* family = FindArchitecture(arch);
  if (family == nullptr) {
    return Bad(f, "general.architecture",
               absl::StrCat("unsupported value '", arch, "' (expected ", ArchitectureNames(), ")"));
  }
  if (f.Has("general.name")) {
    INFER_ASSIGN_OR_RETURN(c.name, f.GetString("general.name"));
  }
  INFER_ASSIGN_OR_RETURN(c.file_type, FileTypeName(f));
  const std::string p = arch + ".";
  INFER_ASSIGN_OR_RETURN(c.context_length, PositiveInt(f, p + "context_length"));
  INFER_ASSIGN_OR_RETURN(c.hidden_size, PositiveInt(f, p + "embedding_length"));
  INFER_ASSIGN_OR_RETURN(c.intermediate_size, PositiveInt(f, p + "feed_forward_length"));
  INFER_ASSIGN_OR_RETURN(c.num_layers, PositiveInt(f, p + "block_count"));
  INFER_ASSIGN_OR_RETURN(c.num_heads, PositiveInt(f, p + "attention.head_count"));
  INFER_ASSIGN_OR_RETURN(c.num_kv_heads,
                         PositiveInt(f, p + "attention.head_count_kv", c.num_heads));
  if (f.Has(p + "attention.key_length")) {
    INFER_ASSIGN_OR_RETURN(c.head_dim, PositiveInt(f, p + "attention.key_length"));
  } else {
    if (c.hidden_size % c.num_heads != 0) {
      return Bad(f, p + "embedding_length",
                 absl::StrCat(c.hidden_size, " is not a multiple of attention.head_count (",
                              c.num_heads, ") and attention.key_length is absent"));
    }
    c.head_dim = c.hidden_size / c.num_heads;
  }
  INFER_ASSIGN_OR_RETURN(c.rope_dim, PositiveInt(f, p + "rope.dimension_count", c.head_dim));
  INFER_ASSIGN_OR_RETURN(c.rms_norm_eps, FloatOr(f, p + "attention.layer_norm_rms_epsilon", 1e-5f));
  INFER_ASSIGN_OR_RETURN(c.rope_theta, FloatOr(f, p + "rope.freq_base", 10000.0f));

  INFER_RETURN_IF_ERROR(ReadRopeScaling(f, p, &c));

  const TensorView* embd = f.FindTensor("token_embd.weight");
  if (f.Has(p + "vocab_size")) {
    INFER_ASSIGN_OR_RETURN(c.vocab_size, PositiveInt(f, p + "vocab_size"));
  } else if (const GgufValue* tokens = f.Find("tokenizer.ggml.tokens"); tokens != nullptr) {
    if (tokens->type() != GgufType::kArray || tokens->element_type() != GgufType::kString) {
      return Bad(f, "tokenizer.ggml.tokens", "expected an array of strings");
    }
    c.vocab_size = static_cast<int64_t>(std::min<uint64_t>(
        tokens->size(), static_cast<uint64_t>(std::numeric_limits<int64_t>::max())));
  } else if (embd != nullptr && !embd->shape.empty()) {
    c.vocab_size = embd->shape.front();
  }
  if (embd != nullptr && (embd->shape.size() != 2 || embd->shape[0] != c.vocab_size ||
                          embd->shape[1] != c.hidden_size)) {
    std::string shape;
    for (int64_t d : embd->shape) absl::StrAppend(&shape, shape.empty() ? "" : ", ", d);
    return absl::InvalidArgumentError(absl::StrCat(
        f.display_name(), ": tensor 'token_embd.weight': shape [", shape, "] (expected [",
        c.vocab_size, ", ", c.hidden_size, "] = [vocab_size, embedding_length])"));
  }
  INFER_RETURN_IF_ERROR(ReadFamilyKeys(f, p, *family, &c));
  c.tie_word_embeddings = f.FindTensor("output.weight") == nullptr;
  c.attention_bias = f.FindTensor("blk.0.attn_q.bias") != nullptr;
  c.rope_interleaved = family->gguf_rope_interleaved;
  INFER_RETURN_IF_ERROR(ValidateModelConfig(c, f.display_name()));
  return c;
}

}  // namespace infer
