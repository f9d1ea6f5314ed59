// What one replica of a model costs on each device it spans: computed from the model files and
// the serving settings, not guessed, each part reported. Placement (placement.h) reserves
// `per_rank` on every device of the replica before it loads.
//
//   weights     the largest rank's slice of the weight matrices (mapped from the file on the
//               host: resident once read) plus the norms and biases copied to F32
//   kv_cache    the KV cache budget of one rank (SchedulerOptions::kv_cache_bytes)
//   activations one step of max_num_batched_tokens through the rank's runner
//   runtime     a fixed allowance (threads' stacks, the allocator's slack) plus the tokenizer's
//               tables and max_num_seqs samplers, from the vocabulary's size
//
// A declared figure (a model set's `memory: 3.89GiB`, the seed's `vram_gb`) may raise it: the
// larger of declared and computed is reserved.
#ifndef INFER_CLUSTER_REPLICA_COST_H_
#define INFER_CLUSTER_REPLICA_COST_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "libinfer/format/model_config.h"
#include "libinfer/model/weight_source.h"

namespace infer::cluster {

struct ReplicaCostOptions {
  // The replica's layout: it spans tensor_parallel x pipeline_parallel devices.
  int tensor_parallel = 1;
  int pipeline_parallel = 1;
  // KV cache bytes on each rank.
  uint64_t kv_cache_bytes = 0;
  // The most tokens one step runs (the Scheduler's max_num_batched_tokens) and the most
  // sequences (max_num_seqs: each wants one row of logits).
  int64_t max_num_batched_tokens = 512;
  int64_t max_num_seqs = 64;
  // A fixed allowance per rank: threads' stacks, the scheduler's state, allocator slack. The
  // tokenizer's tables and the running sequences' samplers are added from the vocabulary's
  // size.
  uint64_t runtime_bytes = uint64_t{1280} << 10;
  // A figure the user declared per rank; 0 for none.
  uint64_t declared_bytes = 0;
};

struct ReplicaCost {
  uint64_t weights = 0;
  uint64_t kv_cache = 0;
  uint64_t activations = 0;
  uint64_t runtime = 0;
  uint64_t computed = 0;  // the sum of the four
  uint64_t declared = 0;
  uint64_t per_rank = 0;  // max(computed, declared)
  int ranks = 1;

  // "weights 94.2 MiB + KV cache 512.0 MiB + activations 130.1 MiB + runtime 64.0 MiB =
  // 800.3 MiB per rank (computed)".
  std::string Describe() const;
};

// The cost of one replica of `config` over `weights` with `options` (the largest over its
// ranks for each part). InvalidArgument when the layout does not fit the model, with the
// runner's reason.
absl::StatusOr<ReplicaCost> ComputeReplicaCost(const ModelConfig& config,
                                               const WeightSource& weights,
                                               const ReplicaCostOptions& options);

// "94.2 MiB", "1.50 GiB", "512 B".
std::string FormatBytes(uint64_t bytes);

}  // namespace infer::cluster

#endif  // INFER_CLUSTER_REPLICA_COST_H_
