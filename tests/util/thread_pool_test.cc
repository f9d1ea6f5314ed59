#include "libinfer/util/thread_pool.h"

#include <time.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
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

// ParallelFor covers [0, n) once, in grain-aligned chunks, mixed with Run regions.
TEST(ThreadPoolTest, ParallelForCoversEveryIndexOnceBetweenRunRegions) {
  for (int threads : {2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 15, 16, 17, 100, 1000, 4097}) {
      for (int64_t grain : {1, 4, 16}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<bool> aligned{true};
        for (int round = 0; round < 20; ++round) {
          pool.ParallelFor(n, grain, [&](int64_t b, int64_t e) {
            if (b % grain != 0 || b >= e || e > n) aligned = false;
            for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
          });
          std::atomic<int> mask{0};
          pool.Run([&](int index, int) { mask.fetch_or(1 << index); });
          ASSERT_EQ(mask.load(), (1 << threads) - 1);
        }
        EXPECT_TRUE(aligned.load()) << n << " / " << grain;
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 20) << n << " / " << grain;
      }
    }
  }
}

// A thread that is held up inside its chunk (as by a preemption) costs the region that chunk
// only: the others take the remaining chunks instead of waiting for it to come back for its
// share. With Run's fixed split the caller would run half of them.
TEST(ThreadPoolTest, ParallelForLetsTheOthersTakeOverAHeldUpThread) {
  ThreadPool pool(2);
  const auto caller = std::this_thread::get_id();
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::atomic<int> by_caller{0};
    std::atomic<int> by_worker{0};
    std::atomic<int> chunks{0};
    const auto start = std::chrono::steady_clock::now();
    pool.ParallelFor(64, 1, [&](int64_t, int64_t) {
      chunks.fetch_add(1);
      if (std::this_thread::get_id() == caller) {
        by_caller.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      } else if (by_worker.fetch_add(1) == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // held up
      }
    });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(chunks.load(), 8);          // about four per thread
    if (by_worker.load() == 0) continue;  // the worker came too late to take one: retry
    // The worker took one chunk and slept in it; the caller ran all the others meanwhile, and
    // the region ended when the held-up chunk did.
    EXPECT_EQ(by_worker.load(), 1);
    EXPECT_EQ(by_caller.load(), 7);
    EXPECT_GE(seconds, 0.05);
    return;
  }
  GTEST_SKIP() << "the worker never reached a chunk in time (an overloaded machine)";
}

TEST(ThreadPoolTest, ParallelForRethrowsAfterEveryThreadLeft) {
  ThreadPool pool(3);
  std::atomic<int> inside{0};
  EXPECT_THROW(pool.ParallelFor(300, 1,
                                [&](int64_t b, int64_t e) {
                                  inside.fetch_add(1);
                                  std::this_thread::sleep_for(std::chrono::microseconds(100));
                                  inside.fetch_sub(1);
                                  if (b <= 37 && 37 < e) throw std::runtime_error("index 37");
                                }),
               std::runtime_error);
  EXPECT_EQ(inside.load(), 0);
  // The pool still works.
  std::atomic<int64_t> sum{0};
  pool.ParallelFor(100, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sum.fetch_add(i);
  });
  EXPECT_EQ(sum.load(), 4950);
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
