#include "libinfer/serve/work_queue.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libinfer/util/thread_guard.h"

namespace infer::serve {

WorkQueue::WorkQueue(std::string name, int threads, size_t max_pending)
    : name_(std::move(name)), max_pending_(max_pending) {
  for (int i = 0; i < std::max(1, threads); ++i) workers_.emplace_back([this] { Loop(); });
}

WorkQueue::~WorkQueue() { Stop(); }

bool WorkQueue::TryPost(std::function<void()> job,
                        std::function<void(const absl::Status&)> on_failure) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || jobs_.size() >= max_pending_) return false;
    jobs_.push_back({std::move(job), std::move(on_failure)});
  }
  cv_.notify_one();
  return true;
}

void WorkQueue::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void WorkQueue::Loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and nothing left to run
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    const absl::Status thrown =
        RunGuarded([&] { return absl::StrCat(name_, ": a job threw"); }, job.run);
    if (!thrown.ok() && job.on_failure) {
      (void)RunGuarded([&] { return absl::StrCat(name_, ": a job's failure handler threw"); },
                       [&] { job.on_failure(thrown); });
    }
  }
}

}  // namespace infer::serve
