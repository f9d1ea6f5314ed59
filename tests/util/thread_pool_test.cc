#include "libinfer/util/thread_pool.h"

#include <time.h>

#include <atomic>
#include <chrono>
#include <thread>
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

double CpuSeconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// The caller of a tensor-parallel rank blocks on an all-reduce between two regions, often for
// a millisecond, while the other ranks on the same cores compute: the idle workers must give
// their cores back within microseconds, not spin through the wait.
TEST(ThreadPoolTest, IdleWorkersGiveTheirCoresBackSoon) {
  ThreadPool pool(3);
  constexpr int kGaps = 100;
  constexpr auto kGap = std::chrono::milliseconds(2);
  const double process_before = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
  const double caller_before = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
  std::atomic<int64_t> sum{0};
  for (int i = 0; i < kGaps; ++i) {
    pool.Run([&](int index, int) { sum.fetch_add(index); });
    std::this_thread::sleep_for(kGap);
  }
  const double workers = (CpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - process_before) -
                         (CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - caller_before);
  EXPECT_EQ(sum.load(), kGaps * (0 + 1 + 2));
  // Two workers spinning through every gap would use 2 x 100 x 2 ms = 0.4 s of CPU; a spin
  // bounded at tens of microseconds uses about 10 ms, wake-ups included.
  EXPECT_LT(workers, 0.1) << "the idle workers used " << workers << " s of CPU in " << kGaps
                          << " gaps of 2 ms";
}

}  // namespace
}  // namespace infer
