// The Scheduler's decisions as a pure function: given the running sequences, the waiting queue
// and the free KV blocks, which sequences run this step with how many tokens, which waiting
// requests are admitted, and which running ones are preempted. No model, no threads: unit tests
// drive it directly.
//
// The rules (vLLM's, in its v1 engine):
//  1. Running sequences first, oldest first: each gets the tokens it still needs (1 for decode,
//     the rest of its prompt for a prefill in progress) up to the step's token budget. When its
//     new blocks are not available, the newest running sequences are preempted (all their blocks
//     freed; they will be recomputed) until they are; if it is itself the newest, it is
//     preempted and the step goes on without it.
//  2. Then, if nothing was preempted, waiting requests in queue order while the budget, the
//     sequence limit and the blocks allow; the first that does not fit stops admission (no
//     overtaking, so a long prompt is not starved by short ones). Prefix-cache hits need no new
//     blocks and no compute, except that cached blocks with no holder count as available until
//     taken.
#ifndef INFER_ENGINE_SCHEDULING_POLICY_H_
#define INFER_ENGINE_SCHEDULING_POLICY_H_

#include <cstdint>
#include <span>
#include <vector>

#include "libinfer/model/kv_cache.h"  // BlocksFor

namespace infer {

struct PolicyRunning {
  uint64_t id = 0;
  int64_t num_computed = 0;  // positions whose K/V are in the cache
  int64_t num_tokens = 0;    // tokens known (prompt + generated); > num_computed
  int64_t num_blocks = 0;    // blocks it holds
};

struct PolicyWaiting {
  uint64_t id = 0;
  int64_t num_tokens = 0;               // prompt (+ output so far, after a preemption)
  int64_t cached_tokens = 0;            // prefix-cache hit, whole blocks, < num_tokens
  int64_t cached_available_blocks = 0;  // hit blocks now counted in free_blocks
};

struct PolicyLimits {
  int64_t block_size = 16;
  int64_t max_num_seqs = 64;
  int64_t max_num_batched_tokens = 512;
  bool chunked_prefill = true;
};

struct StepPlan {
  struct Item {
    uint64_t id = 0;
    int64_t num_tokens = 0;  // tokens computed this step
    int64_t new_blocks = 0;  // blocks to allocate for them
  };
  std::vector<Item> running;        // scheduled running sequences, in the given order
  std::vector<Item> admitted;       // admitted waiting requests, in queue order
  std::vector<uint64_t> preempted;  // running sequences to preempt, newest first
  int64_t num_tokens = 0;           // tokens in the step
};

// `running` ordered oldest first (the last is preempted first); `waiting` in queue order.
StepPlan PlanStep(std::span<const PolicyRunning> running, std::span<const PolicyWaiting> waiting,
                  int64_t free_blocks, const PolicyLimits& limits);

}  // namespace infer

#endif  // INFER_ENGINE_SCHEDULING_POLICY_H_
