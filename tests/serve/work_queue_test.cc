// The server's work queue: a job that throws is answered through its failure handler and the
// worker goes on with the next job.
#include "libinfer/serve/work_queue.h"

#include <future>
#include <stdexcept>
#include <string>

#include "gtest/gtest.h"

namespace infer::serve {
namespace {

TEST(WorkQueueTest, AThrowingJobReachesItsFailureHandlerAndTheWorkerGoesOn) {
  WorkQueue queue("test queue", 1, 8);
  std::promise<std::string> failure;
  ASSERT_TRUE(
      queue.TryPost([] { throw std::runtime_error("job broke"); },
                    [&](const absl::Status& s) { failure.set_value(std::string(s.message())); }));
  std::promise<int> next;
  ASSERT_TRUE(queue.TryPost([&] { next.set_value(7); }));
  // A job without a handler that throws is only logged.
  ASSERT_TRUE(queue.TryPost([] { throw 1; }));
  std::promise<void> last;
  ASSERT_TRUE(queue.TryPost([&] { last.set_value(); }));
  EXPECT_EQ(failure.get_future().get(), "test queue: a job threw: job broke");
  EXPECT_EQ(next.get_future().get(), 7);
  last.get_future().get();
}

}  // namespace
}  // namespace infer::serve
