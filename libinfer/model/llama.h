// The Llama family's forward pass (Llama 2/3, Mistral, SmolLM2, Qwen2 share it), every op run
// through a Backend (libinfer/backend/backend.h) that holds the weights, activations and KV cache:
// embedding, per layer RMSNorm -> GQA attention with RoPE -> residual -> RMSNorm -> SwiGLU MLP
// -> residual, then the final norm and the output head. A ModelRunner for one tensor-parallel
// slice of one pipeline stage (or the whole model). Other families run on it with the
// differences their DecoderFamily states (decoder_family.h).
//
// Tensor parallelism (Megatron-style): a rank keeps whole KV-head groups of Q/K/V (as rows) and
// the matching columns of O, and a share of the FFN's rows of gate/up and columns of down, in
// whole quantization blocks. The partial sums of O and down are all-reduced over the
// tensor-parallel group, so every rank of the group holds the same hidden states after each
// layer. Groups need not divide evenly (SmolLM2's 3 KV heads over 2 ranks: 2 and 1).
#ifndef INFER_MODEL_LLAMA_H_
#define INFER_MODEL_LLAMA_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "infer/model.h"
#include "libinfer/backend/backend.h"
#include "libinfer/comm/communicator.h"
#include "libinfer/format/model_config.h"
#include "libinfer/kernels/cpu/matmul.h"
#include "libinfer/model/batch.h"
#include "libinfer/model/decoder_family.h"
#include "libinfer/model/kv_cache.h"
#include "libinfer/model/model_runner.h"
#include "libinfer/model/weight_source.h"

namespace infer {

struct LlamaLayer {
  std::vector<float> attn_norm;
  kernels::cpu::WeightMatrix wq, wk, wv, wo;
  std::vector<float> bq, bk, bv;                     // empty unless the model has attention biases
  std::vector<float> q_norm, k_norm;                 // [head_dim], DecoderFamily::qk_norm only
  std::vector<float> post_attn_norm, post_ffn_norm;  // DecoderFamily::post_norms only
  bool sliding = false;  // attends within config.sliding_window (see ModelConfig)
  std::vector<float> ffn_norm;
  kernels::cpu::WeightMatrix gate, up, down;

  // The backend's copies (views on the CPU) of the above, made by LlamaModel::Create; a vector
  // that is empty above is null here.
  struct OnBackend {
    std::unique_ptr<DeviceWeight> wq, wk, wv, wo, gate, up, down;
    std::unique_ptr<DeviceBuffer> attn_norm, ffn_norm, bq, bk, bv, q_norm, k_norm, post_attn_norm,
        post_ffn_norm;
  } dev;
};

// The part of the model a runner holds, and how its tensor-parallel group talks.
struct LlamaSlice {
  RunnerLayout layout;
  // The tensor-parallel group's communicator (ranks numbered by tp_rank); null when tp_size 1.
  comm::Communicator* tp_comm = nullptr;
  comm::Timeout timeout{30000};
};

// A range of a mapped weight file that a runner reads (for warming pages up at load): `rows`
// rows of `bytes` bytes, `stride` bytes apart.
struct WeightRange {
  const uint8_t* data = nullptr;
  int64_t rows = 0;
  size_t bytes = 0;
  size_t stride = 0;
};

class LlamaModel final : public ModelRunner {
 public:
  // Binds the weights of `slice` (zero-copy views for matrices; norms and biases copied to F32),
  // checking every tensor's presence, type and shape against `config`, and hands them to
  // `backend` (the CPU backend keeps views; a device backend uploads them). Errors name the
  // tensor. A null `backend` is the CPU backend with `num_threads` threads of its own (the
  // calling thread counts); with a backend given, num_threads is ignored.
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Create(
      const ModelConfig& config, const DecoderFamily& family, const WeightSource& weights,
      const LlamaSlice& slice, int num_threads, std::unique_ptr<Backend> backend = nullptr);

  // The memory a runner for `layout` holds (see RunnerFootprint), binding the same tensors as
  // Create does but building nothing: errors are Create's for the same layout.
  static absl::StatusOr<RunnerFootprint> Footprint(const ModelConfig& config,
                                                   const DecoderFamily& family,
                                                   const WeightSource& weights,
                                                   const RunnerLayout& layout, int64_t tokens,
                                                   int64_t logit_rows);

  const ModelConfig& config() const override { return config_; }
  const RunnerLayout& layout() const override { return slice_.layout; }
  uint64_t KvBytesPerBlock(int64_t block_size, DType dtype) const override;
  absl::StatusOr<std::unique_ptr<KvCache>> CreateKvCache(int64_t block_size, int64_t num_blocks,
                                                         DType dtype) override;
  absl::Status Forward(const ForwardBatch& batch, KvCache& cache, std::span<const float> hidden_in,
                       std::vector<float>& out) override;
  absl::Status Prepare(const std::function<void(uint64_t, uint64_t)>& on_progress) override;
  uint64_t weight_bytes_per_token() const override { return weight_bytes_per_token_; }
  std::optional<DeviceMemory> device_memory() const override { return backend_->Memory(); }

  // The weight bytes this runner reads: its slice, not the whole file.
  const std::vector<WeightRange>& weight_ranges() const { return weight_ranges_; }
  // The backend that holds this runner's weights, activations and caches, and runs its ops.
  Backend& backend() { return *backend_; }

 private:
  LlamaModel(const ModelConfig& config, const DecoderFamily& family)
      : config_(config), family_(family) {}
  // Checks `layout` against `config` and binds its slice of `weights` (no threads, no
  // communicator): the part of Create that Footprint shares.
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Bind(const ModelConfig& config,
                                                          const DecoderFamily& family,
                                                          const WeightSource& weights,
                                                          const RunnerLayout& layout);
  // This rank's rows and columns of the attention and FFN matrices: whole KV-head groups of
  // Q/K/V (rows) and O (columns); a share of the FFN's rows of gate/up and columns of down.
  struct SliceBounds {
    int64_t q_begin, q_end, kv_begin, kv_end, ff_begin, ff_end;
  };
  static SliceBounds BoundsOf(const ModelConfig& c, const RunnerLayout& layout);
  // Binds `name`'s [row_begin, row_end) x [col_begin, col_end) and records what it reads.
  absl::StatusOr<kernels::cpu::WeightMatrix> BindRecorded(const WeightSource& weights,
                                                          const std::string& name, int64_t rows,
                                                          int64_t cols, int64_t row_begin,
                                                          int64_t row_end, int64_t col_begin,
                                                          int64_t col_end);
  absl::Status BindEnds(const WeightSource& weights);  // embedding, final norm, output head
  absl::Status BindLayer(const WeightSource& weights, int64_t layer, const SliceBounds& b);
  // Hands the bound weights and vectors to backend_ (LlamaLayer::dev and the *_dev_ members).
  absl::Status Upload();
  // One layer's attention (norm, Q/K/V, RoPE, the cache writes, paged attention, O, the
  // tensor-parallel sum and the residual) and feed-forward block, over x_'s `n` tokens.
  absl::Status AttentionBlock(const LlamaLayer& layer, int64_t layer_index, int64_t n,
                              AttentionShape shape, PagedKvCache& cache);
  absl::Status FeedForwardBlock(const LlamaLayer& layer, int64_t n);
  // x_ += proj_ over `n` tokens, each row of proj_ RMS-normed by `post_norm` first unless null.
  absl::Status AddResidual(const DeviceBuffer* post_norm, int64_t n);
  // Grows the activations to `n` tokens (and `logit_rows` rows of logits where the backend's
  // memory is not the host's).
  absl::Status EnsureScratch(int64_t n, int64_t logit_rows);
  absl::Status AllReduce(float* data, int64_t count);
  // The output head over `rows` normed rows of xn_: this rank's vocabulary rows, then (tensor
  // parallel) every other rank's share gathered into tensor-parallel rank 0's `out`.
  absl::Status OutputHead(int64_t rows, std::vector<float>& out);
  // The final norm of the rows whose logits are wanted, the output head and the soft cap.
  absl::Status Logits(int64_t rows, std::vector<float>& out);

  ModelConfig config_;
  const DecoderFamily& family_;
  LlamaSlice slice_;
  KvCacheShape kv_shape_;
  int64_t q_dim_ = 0, kv_dim_ = 0, ff_dim_ = 0;  // this rank's widths
  kernels::cpu::WeightMatrix embedding_;
  kernels::cpu::WeightMatrix output_;  // this rank's vocabulary rows [vocab_begin_, +rows)
  int64_t vocab_begin_ = 0;
  std::vector<float> output_norm_;
  std::vector<LlamaLayer> layers_;
  std::vector<float> inv_freq_;      // rope_dim / 2 rotation frequencies, scaling folded in
  std::vector<float> inv_freq_swa_;  // those of the sliding layers when their base differs
  uint64_t weight_bytes_per_token_ = 0;
  std::vector<WeightRange> weight_ranges_;

  // What the backend holds (Upload): the ends' weights and vectors, RoPE frequencies.
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<DeviceWeight> embedding_dev_, output_dev_;
  std::unique_ptr<DeviceBuffer> output_norm_dev_, inv_freq_dev_, inv_freq_swa_dev_;

  // The step's flat batch, and the activations in the backend's memory, sized for the largest
  // chunk seen so far.
  FlatBatch plan_;
  std::unique_ptr<DeviceBuffer> x_, xn_, q_, k_, v_, att_, gate_, up_, proj_;
  std::unique_ptr<DeviceBuffer> logits_;       // [rows][vocab]; unused with host memory
  std::unique_ptr<DeviceBuffer> logit_share_;  // a rank's share of the logits
};

}  // namespace infer

#endif  // INFER_MODEL_LLAMA_H_
