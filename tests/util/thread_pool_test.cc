#include "libinfer/util/thread_pool.h"

#include <atomic>
#include <vector>

#include "gtest/gtest.h"

namespace infer {
namespace {

TEST(SplitRangeTest, CoversEveryIndexOnceAlignedToGrain) {
  for (int64_t n : {0, 1, 7, 32, 100, 1000}) {
    for (int count : {1, 2, 3, 8}) {
      std::vector<int> hits(n, 0);
      int64_t prev_end = 0;
      for (int i = 0; i < count; ++i) {
        auto [b, e] = SplitRange(n, 4, i, count);
        EXPECT_EQ(b, prev_end);
        EXPECT_TRUE(b % 4 == 0 || b == n);
        for (int64_t j = b; j < e; ++j) ++hits[j];
        prev_end = e;
      }
      EXPECT_EQ(prev_end, n);
      for (int h : hits) EXPECT_EQ(h, 1);
    }
  }
}

TEST(ThreadPoolTest, RunsManyShortRegions) {
  ThreadPool pool(3);
  std::vector<int64_t> data(1000, 0);
  for (int iter = 0; iter < 2000; ++iter) {
    pool.ParallelFor(static_cast<int64_t>(data.size()), 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) data[i] += i;
    });
  }
  for (size_t i = 0; i < data.size(); ++i) ASSERT_EQ(data[i], static_cast<int64_t>(i) * 2000);
}

TEST(ThreadPoolTest, EveryThreadRunsOncePerRegion) {
  ThreadPool pool(4);
  std::atomic<int> mask{0};
  pool.Run([&](int index, int count) {
    EXPECT_EQ(count, 4);
    mask.fetch_or(1 << index);
  });
  EXPECT_EQ(mask.load(), 0b1111);
}

}  // namespace
}  // namespace infer
