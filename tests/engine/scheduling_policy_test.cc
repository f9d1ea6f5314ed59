// The scheduling policy as a pure function: admission, chunking and preemption decisions from
// (running, waiting, free blocks), with no model.
#include "libinfer/engine/scheduling_policy.h"

#include "gtest/gtest.h"

namespace infer {
namespace {

PolicyLimits Limits(int64_t budget, int64_t max_seqs = 8, bool chunked = true) {
  PolicyLimits l;
  l.block_size = 4;
  l.max_num_seqs = max_seqs;
  l.max_num_batched_tokens = budget;
  l.chunked_prefill = chunked;
  return l;
}

TEST(SchedulingPolicyTest, DecodesFirstThenAdmitsWithChunkedPrefill) {
  // Two decoding sequences (1 token each) and a 30-token prompt; budget 16.
  const PolicyRunning running[] = {{1, 8, 9, 3}, {2, 5, 6, 2}};
  const PolicyWaiting waiting[] = {{3, 30, 0, 0}};
  const StepPlan plan = PlanStep(running, waiting, 100, Limits(16));
  ASSERT_EQ(plan.running.size(), 2u);
  EXPECT_EQ(plan.running[0].num_tokens, 1);
  EXPECT_EQ(plan.running[0].new_blocks, 0);  // position 8 is in its third block, held
  ASSERT_EQ(plan.admitted.size(), 1u);
  EXPECT_EQ(plan.admitted[0].id, 3u);
  EXPECT_EQ(plan.admitted[0].num_tokens, 14);  // 16 - 2 decode tokens: a chunk
  EXPECT_EQ(plan.admitted[0].new_blocks, 4);   // ceil(14 / 4)
  EXPECT_EQ(plan.num_tokens, 16);
  EXPECT_TRUE(plan.preempted.empty());
}

TEST(SchedulingPolicyTest, WithoutChunkingALongPromptWaitsForAWholeStep) {
  const PolicyRunning running[] = {{1, 8, 9, 3}};
  const PolicyWaiting waiting[] = {{3, 16, 0, 0}, {4, 2, 0, 0}};
  const StepPlan plan = PlanStep(running, waiting, 100, Limits(16, 8, false));
  EXPECT_EQ(plan.running.size(), 1u);
  // 16 tokens do not fit the 15 left; the short one behind it does not overtake.
  EXPECT_TRUE(plan.admitted.empty());
}

TEST(SchedulingPolicyTest, RespectsMaxNumSeqsAndBlocks) {
  const PolicyWaiting waiting[] = {{1, 4, 0, 0}, {2, 4, 0, 0}, {3, 4, 0, 0}};
  StepPlan plan = PlanStep({}, waiting, 100, Limits(64, 2));
  EXPECT_EQ(plan.admitted.size(), 2u);
  plan = PlanStep({}, waiting, 1, Limits(64));
  ASSERT_EQ(plan.admitted.size(), 1u);
  EXPECT_EQ(plan.admitted[0].id, 1u);
}

TEST(SchedulingPolicyTest, PrefixHitsNeedNoComputeAndCountCachedBlocks) {
  // 20 tokens of which 16 cached (4 blocks, 3 of them cached-but-unheld: they use free blocks).
  const PolicyWaiting waiting[] = {{1, 20, 16, 3}};
  StepPlan plan = PlanStep({}, waiting, 4, Limits(64));
  ASSERT_EQ(plan.admitted.size(), 1u);
  EXPECT_EQ(plan.admitted[0].num_tokens, 4);
  EXPECT_EQ(plan.admitted[0].new_blocks, 1);
  // With only 3 available, the hit blocks alone use them all: no room for the new block.
  plan = PlanStep({}, waiting, 3, Limits(64));
  EXPECT_TRUE(plan.admitted.empty());
}

TEST(SchedulingPolicyTest, PreemptsTheNewestWhenBlocksRunOut) {
  // Three decoding sequences each at a block boundary (need one new block); one free block.
  const PolicyRunning running[] = {{1, 8, 9, 2}, {2, 4, 5, 1}, {3, 12, 13, 3}};
  const PolicyWaiting waiting[] = {{4, 3, 0, 0}};
  const StepPlan plan = PlanStep(running, waiting, 1, Limits(64));
  // 1 takes the free block; 2 needs one: 3 (newest) is preempted and frees 3 blocks.
  ASSERT_EQ(plan.preempted.size(), 1u);
  EXPECT_EQ(plan.preempted[0], 3u);
  ASSERT_EQ(plan.running.size(), 2u);
  EXPECT_EQ(plan.running[0].id, 1u);
  EXPECT_EQ(plan.running[1].id, 2u);
  EXPECT_TRUE(plan.admitted.empty()) << "no admission in a step that preempts";
}

TEST(SchedulingPolicyTest, TheNewestPreemptsItselfWhenNothingElseIsLeft) {
  const PolicyRunning running[] = {{1, 8, 9, 2}, {2, 4, 5, 1}};
  const StepPlan plan = PlanStep(running, {}, 0, Limits(64));
  // 1 needs a block: 2 is preempted (frees 1), 1 runs; nothing left for 2.
  ASSERT_EQ(plan.preempted.size(), 1u);
  EXPECT_EQ(plan.preempted[0], 2u);
  ASSERT_EQ(plan.running.size(), 1u);
  EXPECT_EQ(plan.running[0].id, 1u);
  // Alone and out of blocks, a sequence preempts itself.
  const PolicyRunning alone[] = {{1, 8, 9, 2}};
  const StepPlan self = PlanStep(alone, {}, 0, Limits(64));
  EXPECT_EQ(self.preempted, std::vector<uint64_t>{1});
  EXPECT_TRUE(self.running.empty());
}

TEST(SchedulingPolicyTest, TokenBudgetSplitsAPrefillInProgress) {
  const PolicyRunning running[] = {{1, 0, 100, 0}, {2, 20, 21, 6}};
  const StepPlan plan = PlanStep(running, {}, 100, Limits(32));
  ASSERT_EQ(plan.running.size(), 1u);
  EXPECT_EQ(plan.running[0].num_tokens, 32);
  EXPECT_EQ(plan.running[0].new_blocks, 8);
  EXPECT_EQ(plan.num_tokens, 32);
  // The second did not fit this step's budget: it keeps its blocks and waits for the next.
  EXPECT_TRUE(plan.preempted.empty());
}

}  // namespace
}  // namespace infer
