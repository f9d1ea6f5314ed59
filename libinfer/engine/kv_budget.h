// The one rule for a KV cache whose size nobody gave: room for `max_num_seqs` sequences of the
// full context, at most a share of the memory the device has free (and a ceiling), and never
// less than one full-context sequence (so that every request the context admits can run). The
// single-model Scheduler and the model set both size their default caches with it.
#ifndef INFER_ENGINE_KV_BUDGET_H_
#define INFER_ENGINE_KV_BUDGET_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace infer {

struct KvBudgetInputs {
  // KV bytes of one sequence of the full context (its blocks, rounded up).
  uint64_t one_sequence_bytes = 0;
  int32_t max_num_seqs = 1;
  // Memory the device has free (nullopt: unknown, no share applies) and the share of it the
  // cache may take; a ceiling on top. One sequence is still granted up to `available_bytes`.
  std::optional<uint64_t> free_bytes;
  double free_fraction = 1.0;
  uint64_t ceiling_bytes = UINT64_MAX;
  // What the device has for the cache at all (after the weights); UINT64_MAX: not checked here
  // (placement checks it).
  uint64_t available_bytes = UINT64_MAX;
  // Names the device in errors: "host memory (cgroup v2 limit)".
  std::string device = "the device";
  int64_t context_length = 0;  // for the error message
};

// max(one sequence, min(max_num_seqs sequences, free_fraction x free, ceiling)). ResourceExhausted
// naming the numbers (one sequence's bytes and context, what is available where) when one sequence
// does not fit in `available_bytes`.
absl::StatusOr<uint64_t> DefaultKvCacheBytes(const KvBudgetInputs& in);

}  // namespace infer

#endif  // INFER_ENGINE_KV_BUDGET_H_
