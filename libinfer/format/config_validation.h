// Consistency checks shared by the GGUF and Hugging Face config readers.
#ifndef INFER_FORMAT_CONFIG_VALIDATION_H_
#define INFER_FORMAT_CONFIG_VALIDATION_H_

#include <string_view>

#include "absl/status/status.h"
#include "libinfer/format/model_config.h"

namespace infer {

// Largest accepted value of any size field (guards products like heads * head_dim against
// overflow downstream).
inline constexpr int64_t kMaxConfigDim = int64_t{1} << 26;

// OK when `config` describes a model the Llama code path can run: known architecture; sizes
// positive and <= kMaxConfigDim; num_heads a multiple of num_kv_heads; head_dim even; rope_dim
// even and <= head_dim; eps, rope_theta and scaling factors positive and finite; llama3 scaling
// with high_freq_factor > low_freq_factor. InvalidArgument otherwise, starting with
// `display_name` and naming the ModelConfig field and its value.
absl::Status ValidateModelConfig(const ModelConfig& config, std::string_view display_name);

}  // namespace infer

#endif  // INFER_FORMAT_CONFIG_VALIDATION_H_
