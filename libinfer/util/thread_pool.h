// A fixed pool of worker threads for data-parallel kernels.
//
// A decode step of a small model issues hundreds of short parallel regions per token, so a
// region's start and end cost must be a few microseconds: workers spin briefly on an atomic
// generation counter before sleeping on a condition variable.
//
// Cores are not always ours: other processes, the server's I/O threads or the other ranks of a
// group on the same node preempt a worker for a scheduler time slice (milliseconds, dozens of
// regions). ParallelFor deals its chunks to whichever threads come for them and waits only for
// the threads that took some, so a preempted worker costs the region its share of the chunks in
// flight, not the whole time slice.
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
  // fn(begin, end) once for each chunk, on whichever threads claim it: the caller and the
  // workers that arrive while chunks are left. Chunks: four per thread, or `max_chunks` if
  // fewer (> 0), as a multiple of the thread count where there are enough grains, and as even
  // as the grains allow (SplitRange's rule).
  // Returns when every chunk has run; a worker that arrives later does nothing and is not
  // waited for. Which thread runs a chunk is not fixed, so fn's result must not depend on it.
  // Not re-entrant; one caller at a time (shared with Run). An exception thrown by `fn` is
  // rethrown here once no thread is inside `fn` any more (the caller's own first); chunks not
  // yet claimed may then have been skipped.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn,
                   int64_t max_chunks = 0);

 private:
  // The kind of a job is the low bit of its generation, so that a worker learns both at once.
  enum class JobKind : uint8_t { kEveryThread = 0, kChunks = 1 };

  void WorkerLoop(int index);
  // Rethrows `mine` (the caller's exception) or else the first a worker's job threw, if any.
  void RethrowAfterJob(const std::exception_ptr& mine);
  // Starts a new generation for a job of `kind` whose fields are set; returns it.
  uint64_t Publish(JobKind kind);
  // Claims and runs chunks of the current ParallelFor until none is left.
  void RunChunks();
  // Runs the job of `gen` on a worker (Run's fn, or chunks if still open).
  void WorkerJob(int index, uint64_t gen, JobKind kind);

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

  // ParallelFor's job: chunk c is SplitRange(chunk_n_, chunk_grain_, c, num_chunks_).
  const std::function<void(int64_t, int64_t)>* chunk_fn_ = nullptr;
  int64_t chunk_n_ = 0;
  int64_t chunk_grain_ = 0;
  int64_t num_chunks_ = 0;
  std::atomic<int64_t> next_chunk_{0};
  // Who may still join the job: bits 32..63 the low half of its generation, bit 31 set once the
  // caller has closed it, bits 0..30 the workers inside it. A worker joins by a compare-exchange
  // that checks the generation and the closed bit, so once the caller has closed the job and
  // seen no worker inside, no worker can enter it (or touch its fields) any more.
  std::atomic<uint64_t> chunk_state_{0};
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
