// A fixed pool of worker threads for data-parallel kernels.
//
// A decode step of a small model issues hundreds of short parallel regions per token, so a
// region's start and end cost must be a few microseconds: workers spin briefly on an atomic
// generation counter before sleeping on a condition variable.
#ifndef INFER_UTIL_THREAD_POOL_H_
#define INFER_UTIL_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace infer {

class ThreadPool {
 public:
  // `num_threads` counts the calling thread: a pool of 1 runs everything inline.
  explicit ThreadPool(int num_threads);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool();

  int num_threads() const { return num_threads_; }

  // Runs fn(thread_index, num_threads) once on every thread (the caller is index 0) and returns
  // when all have finished. Not re-entrant; one caller at a time. An exception thrown by `fn` on
  // any thread is rethrown here, after every thread has finished (the caller's own first).
  void Run(const std::function<void(int thread_index, int num_threads)>& fn);

  // Splits [0, n) into contiguous chunks whose boundaries are multiples of `grain` and runs
  // fn(begin, end) for each chunk across the threads.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void WorkerLoop(int index);

  const int num_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<int> sleeping_{0};
  std::exception_ptr worker_exception_;  // guarded by mu_: the first a worker's `fn` threw
};

// Splits [0, n) for thread `index` of `count`, aligned to `grain`: returns {begin, end}.
inline std::pair<int64_t, int64_t> SplitRange(int64_t n, int64_t grain, int index, int count) {
  const int64_t chunks = (n + grain - 1) / grain;
  const int64_t per = chunks / count;
  const int64_t extra = chunks % count;
  const int64_t first = index * per + (index < extra ? index : extra);
  const int64_t mine = per + (index < extra ? 1 : 0);
  const int64_t begin = first * grain;
  const int64_t end = (first + mine) * grain;
  return {begin < n ? begin : n, end < n ? end : n};
}

}  // namespace infer

#endif  // INFER_UTIL_THREAD_POOL_H_
