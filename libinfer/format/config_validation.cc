#include "libinfer/format/config_validation.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libinfer/format/architecture.h"

namespace infer {
namespace {

absl::Status Bad(std::string_view display_name, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(display_name), ": ", std::string(what)));
}

}  // namespace

absl::Status ValidateModelConfig(const ModelConfig& c, std::string_view display_name) {
  if (FindArchitecture(c.architecture) == nullptr) {
    return Bad(display_name,
               absl::StrCat("architecture '", c.architecture, "' is not supported (expected ",
                            ArchitectureNames(), ")"));
  }
  const std::pair<const char*, int64_t> sizes[] = {
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_layers", c.num_layers},
      {"num_heads", c.num_heads},
      {"num_kv_heads", c.num_kv_heads},
      {"head_dim", c.head_dim},
      {"context_length", c.context_length},
      {"rope_dim", c.rope_dim},
  };
  for (const auto& [field, value] : sizes) {
    if (value <= 0 || value > kMaxConfigDim) {
      return Bad(display_name,
                 absl::StrCat(field, " is ", value, " (expected 1..", kMaxConfigDim, ")"));
    }
  }
  if (c.num_heads % c.num_kv_heads != 0) {
    return Bad(display_name,
               absl::StrCat("num_heads (", c.num_heads, ") is not a multiple of num_kv_heads (",
                            c.num_kv_heads, ")"));
  }
  if (c.head_dim % 2 != 0) {
    return Bad(display_name, absl::StrCat("head_dim (", c.head_dim, ") is odd"));
  }
  if (c.rope_dim % 2 != 0 || c.rope_dim > c.head_dim) {
    return Bad(display_name, absl::StrCat("rope_dim (", c.rope_dim,
                                          ") must be even and <= head_dim (", c.head_dim, ")"));
  }
  const std::pair<const char*, float> positives[] = {
      {"rms_norm_eps", c.rms_norm_eps},
      {"rope_theta", c.rope_theta},
      {"rope_scaling_factor", c.rope_scaling_factor},
  };
  for (const auto& [field, value] : positives) {
    if (!std::isfinite(value) || value <= 0) {
      return Bad(display_name, absl::StrCat(field, " is ", value, " (expected a positive number)"));
    }
  }
  if (c.rope_scaling == RopeScalingType::kLlama3) {
    if (!std::isfinite(c.rope_low_freq_factor) || !std::isfinite(c.rope_high_freq_factor) ||
        c.rope_low_freq_factor <= 0 || c.rope_high_freq_factor <= c.rope_low_freq_factor) {
      return Bad(display_name, absl::StrCat("llama3 rope scaling needs 0 < rope_low_freq_factor (",
                                            c.rope_low_freq_factor, ") < rope_high_freq_factor (",
                                            c.rope_high_freq_factor, ")"));
    }
    if (c.rope_original_context_length <= 0 || c.rope_original_context_length > kMaxConfigDim) {
      return Bad(display_name,
                 absl::StrCat("rope_original_context_length is ", c.rope_original_context_length,
                              " (expected 1..", kMaxConfigDim, ")"));
    }
  }
  if (c.sliding_window < 0) {
    return Bad(display_name,
               absl::StrCat("sliding_window is ", c.sliding_window, " (expected >= 0)"));
  }
  if (c.sliding_window_pattern < 0 || c.sliding_window_pattern > kMaxConfigDim) {
    return Bad(display_name, absl::StrCat("sliding_window_pattern is ", c.sliding_window_pattern,
                                          " (expected 0..", kMaxConfigDim, ")"));
  }
  for (const auto& [field, value] :
       {std::pair<const char*, float>{"attn_logit_softcapping", c.attn_logit_softcap},
        {"final_logit_softcapping", c.final_logit_softcap},
        {"rope.freq_base_swa", c.rope_theta_swa},
        {"rope.scaling.attn_factor", c.rope_attn_factor}}) {
    if (!std::isfinite(value) || value < 0) {
      return Bad(display_name, absl::StrCat(field, " is ", value, " (expected >= 0)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace infer
