#include "libinfer/engine/scheduling_policy.h"

#include <algorithm>

namespace infer {

StepPlan PlanStep(std::span<const PolicyRunning> running, std::span<const PolicyWaiting> waiting,
                  int64_t free_blocks, const PolicyLimits& limits) {
  StepPlan plan;
  int64_t budget = limits.max_num_batched_tokens;
  // Running sequences still in play: [0, live) of `running`; preemption takes from the end.
  size_t live = running.size();
  for (size_t i = 0; i < live && budget > 0; ++i) {
    const PolicyRunning& r = running[i];
    const int64_t n = std::min(r.num_tokens - r.num_computed, budget);
    if (n <= 0) continue;
    const int64_t need =
        std::max<int64_t>(0, BlocksFor(r.num_computed + n, limits.block_size) - r.num_blocks);
    bool preempted_self = false;
    while (need > free_blocks) {
      // Preempt the newest sequence still in play; it may be this one.
      const PolicyRunning& victim = running[--live];
      plan.preempted.push_back(victim.id);
      free_blocks += victim.num_blocks;
      if (live == i) {
        preempted_self = true;
        break;
      }
    }
    if (preempted_self) break;
    free_blocks -= need;
    budget -= n;
    plan.running.push_back({r.id, n, need});
  }
  // Sequences beyond `live` that were never reached keep their blocks and wait for budget.
  if (plan.preempted.empty()) {
    int64_t seqs = static_cast<int64_t>(running.size());
    for (const PolicyWaiting& w : waiting) {
      if (budget <= 0 || seqs >= limits.max_num_seqs) break;
      const int64_t remaining = w.num_tokens - w.cached_tokens;
      if (!limits.chunked_prefill && remaining > budget) break;
      const int64_t n = std::min(remaining, budget);
      const int64_t cached_blocks = w.cached_tokens / limits.block_size;
      const int64_t need = BlocksFor(w.cached_tokens + n, limits.block_size) - cached_blocks +
                           w.cached_available_blocks;
      if (need > free_blocks) break;
      free_blocks -= need;
      budget -= n;
      ++seqs;
      plan.admitted.push_back({w.id, n, need - w.cached_available_blocks});
    }
  }
  plan.num_tokens = limits.max_num_batched_tokens - budget;
  return plan;
}

}  // namespace infer
