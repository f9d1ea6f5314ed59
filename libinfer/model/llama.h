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
#include "libinfer/kernels/cpu/attention.h"
#include "libinfer/kernels/cpu/matmul.h"
#include "libinfer/model/batch.h"
#include "libinfer/model/kv_cache.h"
#include "libinfer/model/weight_source.h"
#include "libinfer/util/thread_pool.h"

namespace infer {

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

  // Runs one step: every token of `batch` at its position, its K/V written into its sequence's
  // blocks of `cache`, and the logits each sequence asks for written to `logits` as
  // [batch.num_logit_rows()][vocab_size], sequence after sequence. The activations grow to the
  // batch's token count: the caller bounds it. InvalidArgument (naming the sequence) for ids
  // outside the vocabulary, block tables that do not cover the positions or name blocks
  // outside the cache, or token counts that do not add up.
  absl::Status Forward(const ForwardBatch& batch, PagedKvCache& cache, std::vector<float>& logits,
                       ThreadPool* pool);

  // One sequence's `tokens` at positions [start_pos, start_pos + n), in chunks of at most
  // kMaxChunkTokens, into the blocks `block_table` names. `logits` receives the last token's
  // logits (all_logits false) or every token's, [n][vocab_size].
  absl::Status ForwardSequence(std::span<const int32_t> tokens, int64_t start_pos,
                               std::span<const int32_t> block_table, PagedKvCache& cache,
                               bool all_logits, std::vector<float>& logits, ThreadPool* pool);

  // Weight bytes read to produce one token (every matrix once): for roofline figures.
  uint64_t weight_bytes_per_token() const { return weight_bytes_per_token_; }

 private:
  explicit LlamaModel(const ModelConfig& config) : config_(config) {}
  absl::Status CheckBatch(const ForwardBatch& batch, const PagedKvCache& cache) const;
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
  std::vector<kernels::cpu::AttentionQuery> queries_;
  kernels::cpu::MatMulScratch matmul_scratch_;
};

// Largest number of tokens run through one forward chunk (bounds activation memory).
inline constexpr int64_t kMaxChunkTokens = 512;

}  // namespace infer

#endif  // INFER_MODEL_LLAMA_H_
