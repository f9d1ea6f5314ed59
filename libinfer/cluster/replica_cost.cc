#include "libinfer/cluster/replica_cost.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libinfer/model/model_runner.h"
#include "libinfer/model/parallelism.h"
#include "libinfer/util/status_macros.h"

namespace infer::cluster {

std::string FormatBytes(uint64_t b) {
  if (b >= (uint64_t{1} << 30)) return absl::StrFormat("%.2f GiB", b / 1073741824.0);
  if (b >= (uint64_t{1} << 20)) return absl::StrFormat("%.1f MiB", b / 1048576.0);
  return absl::StrCat(b, " B");
}

std::string ReplicaCost::Describe() const {
  std::string out =
      absl::StrCat("weights ", FormatBytes(weights), " + KV cache ", FormatBytes(kv_cache),
                   " + activations ", FormatBytes(activations), " + runtime ", FormatBytes(runtime),
                   " = ", FormatBytes(computed), " per rank");
  if (declared > computed) {
    absl::StrAppend(&out, "; declared ", FormatBytes(declared), ", which is reserved");
  } else {
    absl::StrAppend(&out, " (computed", declared > 0 ? ", above the declared " : "",
                    declared > 0 ? FormatBytes(declared) : "", ")");
  }
  if (ranks > 1) absl::StrAppend(&out, ", on each of ", ranks, " devices");
  return out;
}

// The tokenizer's tables per vocabulary entry (the token's text, its id maps, merge ranks), and
// each running sequence's sampler (its candidates: an id and a probability per entry).
// Calibrated against the measured resident memory of replicas (bench/serve/replica_memory.py).
constexpr uint64_t kTokenizerBytesPerToken = 320;
constexpr uint64_t kSamplerBytesPerToken = 8;

absl::StatusOr<ReplicaCost> ComputeReplicaCost(const ModelConfig& config,
                                               const WeightSource& weights,
                                               const ReplicaCostOptions& options) {
  ReplicaCost cost;
  cost.ranks = options.tensor_parallel * options.pipeline_parallel;
  const int64_t tokens = std::min(options.max_num_batched_tokens, kMaxChunkTokens);
  for (int rank = 0; rank < cost.ranks; ++rank) {
    INFER_ASSIGN_OR_RETURN(RunnerLayout layout, LayoutOfRank(config, options.tensor_parallel,
                                                             options.pipeline_parallel, rank));
    INFER_ASSIGN_OR_RETURN(RunnerFootprint f, EstimateRunnerFootprint(
                                                  config, weights, layout, tokens,
                                                  std::min<int64_t>(options.max_num_seqs, tokens)));
    cost.weights = std::max(cost.weights, f.weight_bytes + f.copied_bytes);
    cost.activations = std::max(cost.activations, f.activation_bytes);
  }
  cost.kv_cache = options.kv_cache_bytes;
  const uint64_t vocab = static_cast<uint64_t>(std::max<int64_t>(config.vocab_size, 0));
  const uint64_t seqs = static_cast<uint64_t>(std::max<int64_t>(options.max_num_seqs, 1));
  cost.runtime =
      options.runtime_bytes + vocab * (kTokenizerBytesPerToken + seqs * kSamplerBytesPerToken);
  cost.computed = cost.weights + cost.kv_cache + cost.activations + cost.runtime;
  cost.declared = options.declared_bytes;
  cost.per_rank = std::max(cost.computed, cost.declared);
  return cost;
}

}  // namespace infer::cluster
