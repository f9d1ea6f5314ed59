// FlattenBatch: the engine's batch as the backends' ops read it.
#include <vector>

#include "gtest/gtest.h"
#include "libinfer/model/model_runner.h"

namespace infer {
namespace {

TEST(FlattenBatchTest, PositionsTablesAndLogitRowsOfEveryToken) {
  const std::vector<int32_t> table_a = {4, 1};
  const std::vector<int32_t> table_b = {0, 2, 3};
  ForwardBatch batch;
  batch.tokens = {10, 11, 12, 20, 21};
  batch.sequences.push_back({table_a, 0, 3, 3});   // a prompt, every position scored
  batch.sequences.push_back({table_b, 35, 2, 1});  // a chunk that wants its last logits
  FlatBatch plan;
  plan.positions = {99};  // reused storage is overwritten, not appended to
  FlattenBatch(batch, plan);
  EXPECT_EQ(plan.tokens, batch.tokens);
  EXPECT_EQ(plan.positions, (std::vector<int32_t>{0, 1, 2, 35, 36}));
  EXPECT_EQ(plan.block_tables, (std::vector<int32_t>{4, 1, 0, 2, 3}));
  EXPECT_EQ(plan.table_begin, (std::vector<int32_t>{0, 0, 0, 2, 2}));
  EXPECT_EQ(plan.logit_tokens, (std::vector<int32_t>{0, 1, 2, 4}));
  EXPECT_EQ(plan.max_position, 36);
  EXPECT_EQ(plan.num_tokens(), 5);
  EXPECT_TRUE(CheckFlatBatch(plan).ok());
  // Token 4's block for position 36 (block size 16): its table's third entry.
  EXPECT_EQ(plan.block_tables[plan.table_begin[4] + 36 / 16], 3);
}

}  // namespace
}  // namespace infer
