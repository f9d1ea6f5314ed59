// The thread guard and the pool's exception path: an exception becomes a Status naming where it
// happened; one thrown by a pool worker reaches the caller of Run, after every worker is done.
#include "libinfer/util/thread_guard.h"

#include <atomic>
#include <stdexcept>
#include <string>

#include "gtest/gtest.h"
#include "libinfer/util/thread_pool.h"

namespace infer {
namespace {

TEST(ThreadGuardTest, ExceptionsBecomeStatusesNamingWhere) {
  EXPECT_TRUE(RunGuarded("nothing", [] {}).ok());
  const absl::Status s = RunGuarded("the probe", [] { throw std::runtime_error("disk gone"); });
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(s.message(), "the probe: disk gone");
  const absl::Status odd = RunGuarded("odd", [] { throw 42; });
  EXPECT_EQ(odd.message(), "odd: unknown exception");
}

TEST(ThreadGuardTest, APoolWorkersExceptionReachesTheCallerAfterEveryThreadFinished) {
  ThreadPool pool(3);
  std::atomic<int> finished{0};
  try {
    pool.Run([&](int index, int) {
      if (index == 2) throw std::runtime_error("worker 2 failed");
      finished.fetch_add(1);
    });
    ADD_FAILURE() << "Run returned normally";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "worker 2 failed");
  }
  EXPECT_EQ(finished.load(), 2);
  // The pool still works, and the caller's own exception wins over a worker's.
  std::atomic<int> sum{0};
  pool.Run([&](int index, int) { sum.fetch_add(index); });
  EXPECT_EQ(sum.load(), 3);
  EXPECT_THROW(
      pool.Run([&](int index, int) { throw std::logic_error(index == 0 ? "caller" : "worker"); }),
      std::logic_error);
  pool.Run([&](int, int) { sum.fetch_add(1); });
  EXPECT_EQ(sum.load(), 6);
}

}  // namespace
}  // namespace infer
