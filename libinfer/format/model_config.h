// Hyper-parameters of a Llama-family model, read from GGUF metadata or an HF `config.json`.
#ifndef INFER_FORMAT_MODEL_CONFIG_H_
#define INFER_FORMAT_MODEL_CONFIG_H_

#include <cstdint>
#include <string>

namespace infer {

enum class RopeScalingType { kNone, kLinear, kLlama3 };

struct ModelConfig {
  std::string
      architecture;  // an entry of Architectures() (GGUF general.architecture / HF model_type)
  std::string name;  // general.name or the folder name
  // The file's type as llama.cpp names its quantization mixes ("Q4_K_M", "Q8_0"), from GGUF's
  // general.file_type; empty when the file does not say (safetensors, older GGUF files).
  std::string file_type;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;        // n_embd
  int64_t intermediate_size = 0;  // n_ff
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;    // GQA: num_heads % num_kv_heads == 0
  int64_t head_dim = 0;        // usually hidden_size / num_heads
  int64_t context_length = 0;  // max_position_embeddings / <arch>.context_length
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  int64_t rope_dim = 0;  // rotated dims per head (== head_dim for Llama)
  // RoPE layout. GGUF Llama files have Q/K rows permuted so pairs are adjacent (x[2i], x[2i+1]);
  // HF checkpoints rotate halves (x[i], x[i + d/2]). true = adjacent pairs ("normal"/GPT-J style).
  bool rope_interleaved = true;
  RopeScalingType rope_scaling = RopeScalingType::kNone;
  float rope_scaling_factor = 1.0f;             // linear and llama3
  float rope_low_freq_factor = 1.0f;            // llama3
  float rope_high_freq_factor = 4.0f;           // llama3
  int64_t rope_original_context_length = 8192;  // llama3
  // GGUF only: name of a tensor of per-pair frequency divisors ("rope_freqs.weight", written by
  // llama.cpp for Llama 3.x instead of rope_scaling metadata); empty when there is none. The
  // frequency of pair i becomes theta^(-2i/rope_dim) / tensor[i].
  std::string rope_freq_factors_tensor;
  // Multiplies the rotated dimensions of Q and K after RoPE (GGUF rope.scaling.attn_factor;
  // LongRoPE's attention factor).
  float rope_attn_factor = 1.0f;
  bool tie_word_embeddings = false;  // output head reuses the token embedding
  bool attention_bias = false;       // Q/K/V projections have biases (Qwen2)
  int64_t sliding_window = 0;        // 0 = none (Mistral v0.1 uses 4096)
  // With a window: 0 = every layer slides (Mistral); N = layer l slides when l % N < N - 1 and
  // the others attend globally (Gemma 2: 2, Gemma 3: 6).
  int64_t sliding_window_pattern = 0;
  float rope_theta_swa = 0;       // RoPE base of the sliding layers when patterned; 0 = rope_theta
  float attn_logit_softcap = 0;   // scores -> cap * tanh(scores / cap) before softmax; 0 = off
  float final_logit_softcap = 0;  // the same on the output logits
};

}  // namespace infer

#endif  // INFER_FORMAT_MODEL_CONFIG_H_
