// The Llama family's forward pass on the CPU (Llama 2/3, Mistral, SmolLM2, Qwen2 share it):
// embedding, per layer RMSNorm -> GQA attention with RoPE -> residual -> RMSNorm -> SwiGLU MLP
// -> residual, then the final norm and the output head.
#ifndef INFER_MODEL_LLAMA_H_
#define INFER_MODEL_LLAMA_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "infer/model.h"
#include "libinfer/format/model_config.h"
#include "libinfer/kernels/cpu/matmul.h"
#include "libinfer/model/weight_source.h"
#include "libinfer/util/thread_pool.h"

namespace infer {

// One sequence's K/V cache: per layer, K and V as [num_kv_heads][capacity][head_dim] floats.
class KvCache {
 public:
  KvCache(int64_t num_layers, int64_t num_kv_heads, int64_t head_dim, int64_t capacity);
  int64_t capacity() const { return capacity_; }
  float* k(int64_t layer) { return data_.data() + (2 * layer) * layer_elems_; }
  float* v(int64_t layer) { return data_.data() + (2 * layer + 1) * layer_elems_; }
  uint64_t bytes() const { return data_.size() * sizeof(float); }

 private:
  int64_t capacity_;
  int64_t layer_elems_;
  std::vector<float> data_;
};

struct LlamaLayer {
  std::vector<float> attn_norm;
  kernels::cpu::WeightMatrix wq, wk, wv, wo;
  std::vector<float> bq, bk, bv;  // empty unless the model has attention biases
  std::vector<float> ffn_norm;
  kernels::cpu::WeightMatrix gate, up, down;
};

// Tensor-parallel slice and pipeline stage this process holds (see ParallelLayout).
struct LlamaSlice {
  int64_t first_layer = 0;
  int64_t end_layer = 0;  // exclusive
  int tp_rank = 0;
  int tp_size = 1;
};

class LlamaModel {
 public:
  // Binds the weights (zero-copy views for matrices; norms and biases copied to F32), checking
  // every tensor's presence, type and shape against `config`. Errors name the tensor.
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Create(const ModelConfig& config,
                                                            const WeightSource& weights,
                                                            const LlamaSlice& slice);

  const ModelConfig& config() const { return config_; }

  // Runs tokens[i] at position start_pos + i (the cache holds positions < start_pos) and writes
  // the logits of the last token (all_logits false) or of every token, [n][vocab], into
  // `logits`. Long inputs are processed in chunks. Ids must be < vocab_size and
  // start_pos + tokens.size() <= cache.capacity(): checked, InvalidArgument otherwise.
  absl::Status Forward(std::span<const int32_t> tokens, int64_t start_pos, KvCache& cache,
                       bool all_logits, std::vector<float>& logits, ThreadPool* pool);

  // Weight bytes read to produce one token (every matrix once): for roofline figures.
  uint64_t weight_bytes_per_token() const { return weight_bytes_per_token_; }

 private:
  explicit LlamaModel(const ModelConfig& config) : config_(config) {}
  absl::Status ForwardChunk(std::span<const int32_t> tokens, int64_t start_pos, KvCache& cache,
                            bool all_logits, float* logits, ThreadPool* pool);
  void EnsureScratch(int64_t n);

  ModelConfig config_;
  LlamaSlice slice_;
  kernels::cpu::WeightMatrix embedding_;
  kernels::cpu::WeightMatrix output_;
  std::vector<float> output_norm_;
  std::vector<LlamaLayer> layers_;
  std::vector<float> inv_freq_;  // rope_dim / 2 rotation frequencies, scaling folded in
  uint64_t weight_bytes_per_token_ = 0;

  // Activations, sized for the largest chunk seen so far.
  int64_t scratch_tokens_ = 0;
  std::vector<float> x_, xn_, q_, k_, v_, att_, gate_, up_, proj_;
  kernels::cpu::MatMulScratch matmul_scratch_;
};

// Largest number of tokens run through one forward chunk (bounds activation memory).
inline constexpr int64_t kMaxChunkTokens = 512;

}  // namespace infer

#endif  // INFER_MODEL_LLAMA_H_
