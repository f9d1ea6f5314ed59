// ModelRunner: the one interface through which the engine (Scheduler, Model::Generate,
// ComputeLogits) and the cluster drive a model, whatever its family, device or layout.
//
// A runner owns the weights of its part of the model (a tensor-parallel slice of a pipeline
// stage's layers), its activations and its worker threads. Each step it takes the flat batch
// (libinfer/model/batch.h): the first stage embeds the batch's tokens, a later stage starts from
// the hidden states that the stage before it produced; a middle stage returns hidden states, the
// last stage the logits its sequences ask for. A runner for a whole model (one process, or a
// cluster's leader standing for every rank) is both first and last stage: tokens in, logits out.
//
// Llama is one implementation (llama.h); a cluster's leader wraps its local runner in one that
// sends each step to the other ranks (libinfer/cluster/). Adding a family or a device adds a
// runner and touches no client of this interface.
//
// Thread-safety: one caller at a time (ModelImpl::forward_mu serializes its callers).
#ifndef INFER_MODEL_MODEL_RUNNER_H_
#define INFER_MODEL_MODEL_RUNNER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libinfer/backend/backend.h"
#include "libinfer/format/model_config.h"
#include "libinfer/model/batch.h"
#include "libinfer/model/kv_cache.h"

namespace infer {

// Which part of the model a runner holds.
struct RunnerLayout {
  int64_t first_layer = 0;
  int64_t end_layer = 0;    // exclusive
  bool first_stage = true;  // embeds tokens
  bool last_stage = true;   // produces logits
  int tp_rank = 0;
  int tp_size = 1;
};

// What one runner holds in memory (a rank's part of a replica), computed from the model files
// without building it: what placement reserves (libinfer/cluster/replica_cost.h).
struct RunnerFootprint {
  // The weight matrices of the runner's slice. On the host they are views into the mapped file
  // and become resident as they are read; the embedding counts whole on the first stage.
  uint64_t weight_bytes = 0;
  // Norms, biases and RoPE frequencies, copied to F32.
  uint64_t copied_bytes = 0;
  // The activations of one step of the given number of tokens: the per-token buffers, as many
  // rows of logits, and the quantized inputs of the matrix products.
  uint64_t activation_bytes = 0;
};

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;

  // The whole model's hyper-parameters (not the slice's).
  virtual const ModelConfig& config() const = 0;
  virtual const RunnerLayout& layout() const = 0;

  // Bytes one KV block of `block_size` positions of `dtype` (F32 or F16) takes in this process.
  virtual uint64_t KvBytesPerBlock(int64_t block_size, DType dtype) const = 0;
  // A paged KV cache of `dtype` elements for this runner's layers and heads (see kv_cache.h).
  // InvalidArgument for a dtype the runner's cache cannot hold.
  virtual absl::StatusOr<std::unique_ptr<KvCache>> CreateKvCache(int64_t block_size,
                                                                 int64_t num_blocks,
                                                                 DType dtype) = 0;

  // Runs one step over `batch`, writing each token's K/V into its sequence's blocks of `cache`
  // (a cache this runner created). `hidden_in` is empty on the first stage (the batch's tokens
  // are embedded) and [tokens][hidden_size] from the previous stage otherwise. `out` receives
  // the logits on the last stage, [batch.num_logit_rows()][vocab_size], sequence after
  // sequence (a tensor-parallel group splits the output head by vocabulary rows and gathers the
  // logits on its rank 0: the other ranks' `out` is scratch); the hidden states
  // [tokens][hidden_size] on any other stage. The activations grow
  // to the batch's token count: the caller bounds it (kMaxChunkTokens is safe).
  // InvalidArgument (naming the sequence) for ids outside the vocabulary, block tables that do
  // not cover the positions or name blocks outside the cache, or counts that do not add up;
  // Unavailable / DeadlineExceeded when a rank this runner needs is gone.
  virtual absl::Status Forward(const ForwardBatch& batch, KvCache& cache,
                               std::span<const float> hidden_in, std::vector<float>& out) = 0;

  // Reads this runner's weights in before the first step (host: touches the pages of its slice
  // of the mapped file, and only those; a device runner uploads them), calling `on_progress`
  // (may be empty) with (bytes done, bytes total).
  virtual absl::Status Prepare(const std::function<void(uint64_t, uint64_t)>& on_progress) = 0;

  // Weight bytes one decode step reads in this process (every matrix once): roofline figures.
  virtual uint64_t weight_bytes_per_token() const = 0;

  // The memory of the device that holds this runner's weights, activations and caches, after
  // Prepare (which reserves the activations of the largest step); nullopt for host memory.
  virtual std::optional<DeviceMemory> device_memory() const { return std::nullopt; }
};

// Largest number of tokens run through one forward chunk (bounds activation memory).
inline constexpr int64_t kMaxChunkTokens = 512;

// One sequence's `tokens` at positions [start_pos, start_pos + n) through a whole-model runner
// (first and last stage), in chunks of at most kMaxChunkTokens, into the blocks `block_table`
// names. `logits` receives the last token's logits (all_logits false) or every token's,
// [n][vocab_size].
absl::Status RunSequence(ModelRunner& runner, std::span<const int32_t> tokens, int64_t start_pos,
                         std::span<const int32_t> block_table, KvCache& cache, bool all_logits,
                         std::vector<float>& logits);

// [begin, end) of `n` units for part `part` of `parts`, as even as whole units allow: how
// layers fall to pipeline stages and heads or FFN blocks to tensor-parallel ranks.
inline std::pair<int64_t, int64_t> ShareOf(int64_t n, int part, int parts) {
  return {n * part / parts, n * (part + 1) / parts};
}

// The most units any part of `parts` gets from ShareOf.
inline int64_t LargestShare(int64_t n, int parts) { return (n + parts - 1) / parts; }

// The layout of rank `rank` of a tensor_parallel x pipeline_parallel group (rank =
// stage * tensor_parallel + tensor-parallel rank): its stage's share of the layers. InvalidArgument
// when there are more stages than layers.
absl::StatusOr<RunnerLayout> LayoutOfRank(const ModelConfig& config, int tensor_parallel,
                                          int pipeline_parallel, int rank);

// The flat plan of `batch` that a backend's ops read (libinfer/backend/backend.h's FlatBatch),
// into `plan` (its vectors' memory is reused). `batch` must have passed CheckBatch.
void FlattenBatch(const ForwardBatch& batch, FlatBatch& plan);

// Checks `batch` against the model and the cache (see ModelRunner::Forward's errors).
absl::Status CheckBatch(const ForwardBatch& batch, const ModelConfig& config, const KvCache& cache);

}  // namespace infer

#endif  // INFER_MODEL_MODEL_RUNNER_H_
