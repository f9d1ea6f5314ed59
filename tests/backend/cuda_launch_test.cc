// The CUDA kernels' launch planning (libinfer/kernels/cuda/launch.h), checked on the host.
#include "libinfer/kernels/cuda/launch.h"

#include "gtest/gtest.h"

namespace infer::kernels::cuda {
namespace {

TEST(CudaLaunchTest, ElementAndMatMulGridsCoverTheirWork) {
  EXPECT_EQ(ElementBlocks(0), 1u);
  EXPECT_EQ(ElementBlocks(1), 1u);
  EXPECT_EQ(ElementBlocks(kElementThreads + 1), 2u);
  EXPECT_EQ(ElementBlocks(int64_t{1} << 40), static_cast<unsigned>(kMaxElementBlocks));
  for (int64_t rows : {1, 7, 8, 9, 576, 49152}) {
    for (int64_t m : {1, 7, 8, 9, 64}) {
      const MatMulLaunch l = PlanMatMul(rows, m);
      EXPECT_GE(int64_t{l.grid_x} * kMatMulWarps, rows);
      EXPECT_LT((int64_t{l.grid_x} - 1) * kMatMulWarps, rows);
      EXPECT_GE(int64_t{l.grid_y} * kMatMulRowsPerWarp, m);
      EXPECT_LT((int64_t{l.grid_y} - 1) * kMatMulRowsPerWarp, m);
    }
  }
  EXPECT_EQ(PlanMatMul(8, int64_t{1} << 30).grid_y, static_cast<unsigned>(kMaxGridY));
  // Decode rows stay on our kernel; prefill chunks go to cuBLASLt.
  EXPECT_FALSE(UseGemm(false, 1));
  EXPECT_TRUE(UseGemm(false, 512));
  EXPECT_FALSE(UseGemm(true, 64));
  EXPECT_TRUE(UseGemm(true, 512));
}

// Every split holds whole tiles, none is empty, together they cover the span, and only long
// spans with too few (token, head) pairs to fill the device are split.
TEST(CudaLaunchTest, AttentionSplitsOnlyLongContextsThatLeaveTheDeviceIdle) {
  for (int sms : {1, 108, 132}) {
    for (int64_t tokens : {1, 4, 64, 512}) {
      for (int64_t heads : {1, 9, 32}) {
        for (int64_t span : {1, 31, 256, 257, 3001, 131072}) {
          const AttentionLaunch l = PlanAttention(tokens, heads, span, sms);
          SCOPED_TRACE(testing::Message() << sms << " SMs, " << tokens << " tokens, " << heads
                                          << " heads, span " << span);
          ASSERT_GE(l.splits, 1);
          ASSERT_LE(l.splits, kMaxAttentionSplits);
          ASSERT_EQ(l.positions_per_split % kAttentionTile, 0);
          ASSERT_GE(l.splits * l.positions_per_split, span);
          ASSERT_LT((l.splits - 1) * l.positions_per_split, span);
          if (tokens * heads >= 2 * sms || span <= kMinSplitPositions) {
            ASSERT_EQ(l.splits, 1);
          }
        }
      }
    }
  }
  // Batch-1 decode of a 32-head model at 8k positions on 132 SMs: split about 9 ways.
  const AttentionLaunch decode = PlanAttention(1, 32, 8192, 132);
  EXPECT_GT(decode.splits, 4);
  EXPECT_GE(decode.positions_per_split, kMinSplitPositions);
}

}  // namespace
}  // namespace infer::kernels::cuda
