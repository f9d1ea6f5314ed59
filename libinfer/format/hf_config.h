// Hugging Face `config.json` -> ModelConfig for the Llama family (model_type llama, mistral,
// qwen2).
#ifndef INFER_FORMAT_HF_CONFIG_H_
#define INFER_FORMAT_HF_CONFIG_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "libinfer/format/model_config.h"

namespace infer {

// Reads the hyper-parameters from the text of a `config.json`. Required keys: model_type,
// vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
// max_position_embeddings. Defaults: num_key_value_heads = num_attention_heads, head_dim =
// hidden_size / num_attention_heads, rms_norm_eps = 1e-6, rope_theta = 10000, no rope_scaling,
// tie_word_embeddings = false, attention_bias = false (always true for qwen2), sliding_window =
// 0 (mistral: its value when not null; qwen2: only with use_sliding_window). rope_scaling may be
// null or {"rope_type"|"type": "default"|"linear"|"llama3", ...}. rope_interleaved is false
// (HF checkpoints rotate halves). `name` is left empty. Errors: InvalidArgument starting with
// `display_name` and naming the key (bad JSON, a missing or mistyped key, an unsupported
// model_type or rope type, or a ValidateModelConfig failure).
absl::StatusOr<ModelConfig> ModelConfigFromHfConfigJson(std::string_view json_text,
                                                        std::string_view display_name);

// Reads `path` (a config.json) and parses it as above; `name` is set to the name of the folder
// that holds it. Adds NotFound / read errors naming the path.
absl::StatusOr<ModelConfig> ModelConfigFromHfConfigFile(const std::string& path);

}  // namespace infer

#endif  // INFER_FORMAT_HF_CONFIG_H_
