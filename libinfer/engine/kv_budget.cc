#include "libinfer/engine/kv_budget.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace infer {

absl::StatusOr<uint64_t> DefaultKvCacheBytes(const KvBudgetInputs& in) {
  const uint64_t one = in.one_sequence_bytes;
  const uint64_t seqs = static_cast<uint64_t>(std::max<int32_t>(1, in.max_num_seqs));
  const uint64_t wanted = one > UINT64_MAX / seqs ? UINT64_MAX : one * seqs;
  uint64_t cap = in.ceiling_bytes;
  if (in.free_bytes) {
    cap = std::min(cap,
                   static_cast<uint64_t>(static_cast<double>(*in.free_bytes) * in.free_fraction));
  }
  const uint64_t budget = std::max(one, std::min(wanted, cap));
  if (one > in.available_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the KV cache needs at least one sequence of the full context: %.1f MiB for %d tokens, "
        "but %s has %.1f MiB free after the weights; give it more memory, lower the served "
        "context (--max-model-len) or set the KV cache size (--kv-cache-memory)",
        static_cast<double>(one) / (1 << 20), in.context_length, in.device,
        static_cast<double>(in.available_bytes) / (1 << 20)));
  }
  return std::min(budget, in.available_bytes);
}

}  // namespace infer
