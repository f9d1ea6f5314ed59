// A fixed set of threads running queued jobs in order, with a bound on the queue: the server
// runs work that would stall an I/O thread (password hashing for POST /token) here.
#ifndef INFER_SERVE_WORK_QUEUE_H_
#define INFER_SERVE_WORK_QUEUE_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace infer::serve {

class WorkQueue {
 public:
  // `threads` >= 1 workers named `name` in logs; at most `max_pending` jobs wait (running ones do
  // not count).
  WorkQueue(std::string name, int threads, size_t max_pending);
  // Stop(), then joins.
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues `job`; false (and `job` is dropped) when the queue is full or stopped. A job that
  // throws is logged with the queue's name and `on_failure` (may be empty) gets the exception
  // as a Status, to answer the request the job was for; the worker goes on.
  bool TryPost(std::function<void()> job,
               std::function<void(const absl::Status&)> on_failure = nullptr);

  // Runs the jobs already queued, refuses new ones, and joins the workers. Idempotent.
  void Stop();

 private:
  void Loop();

  struct Job {
    std::function<void()> run;
    std::function<void(const absl::Status&)> on_failure;
  };

  const std::string name_;
  const size_t max_pending_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;   // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::vector<std::thread> workers_;
};

}  // namespace infer::serve

#endif  // INFER_SERVE_WORK_QUEUE_H_
