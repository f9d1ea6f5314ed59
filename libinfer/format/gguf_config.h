// GGUF metadata -> ModelConfig for the Llama family (general.architecture llama, mistral, qwen2).
#ifndef INFER_FORMAT_GGUF_CONFIG_H_
#define INFER_FORMAT_GGUF_CONFIG_H_

#include "absl/status/statusor.h"
#include "libinfer/format/gguf.h"
#include "libinfer/format/model_config.h"

namespace infer {

// Reads the hyper-parameters of `file`. With arch = general.architecture, required keys are
// <arch>.context_length, .embedding_length, .feed_forward_length, .block_count,
// .attention.head_count. Defaults: .attention.head_count_kv = head_count, head_dim =
// .attention.key_length or embedding_length / head_count, .rope.dimension_count = head_dim,
// .attention.layer_norm_rms_epsilon = 1e-5, .rope.freq_base = 10000, no rope scaling
// (.rope.scaling.type "linear" uses .rope.scaling.factor). vocab_size comes from
// <arch>.vocab_size, else the length of tokenizer.ggml.tokens, else the rows of
// token_embd.weight. From the tensors: tie_word_embeddings = no "output.weight"; attention_bias =
// "blk.0.attn_q.bias" exists; rope_freq_factors_tensor = "rope_freqs.weight" when present.
// rope_interleaved is true for llama/mistral (llama.cpp's converter permutes Q/K rows) and false
// for qwen2. When token_embd.weight exists its shape must be [vocab_size, hidden_size].
// Errors: InvalidArgument (NotFound for a missing required key) naming the file and the key.
absl::StatusOr<ModelConfig> ModelConfigFromGguf(const GgufFile& file);

}  // namespace infer

#endif  // INFER_FORMAT_GGUF_CONFIG_H_
