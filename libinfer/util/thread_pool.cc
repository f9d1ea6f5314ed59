#include "libinfer/util/thread_pool.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

namespace infer {
namespace {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// How long a worker spins before it goes to sleep: long enough to bridge the gap between two
// kernels of one forward pass (microseconds), short enough not to take a core from whoever
// needs it while the caller waits on something else: the other ranks of a tensor-parallel
// group sharing the node's cores, whose all-reduces the caller blocks on dozens of times per
// token. Bounded by time, not by iterations: a pause instruction costs from a few to 140
// cycles depending on the CPU, so a count of them meant anything from 0.1 to 4 ms.
constexpr auto kSpinTime = std::chrono::microseconds(50);

// Spin iterations between two reads of the clock.
constexpr int kSpinClockEvery = 64;

// Spin iterations of Run() and ParallelFor() waiting for the workers before they yield between
// checks.
constexpr int kFinishSpinIterations = 1 << 10;

}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(num_threads < 1 ? 1 : num_threads) {
  workers_.reserve(num_threads_ - 1);
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
    generation_.fetch_add(2);  // a new generation (the kind bit does not matter any more)
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

namespace {

constexpr uint64_t kChunkClosed = uint64_t{1} << 31;
constexpr uint64_t kChunkInside = kChunkClosed - 1;

uint64_t ChunkGeneration(uint64_t gen) { return (gen & 0xffffffffu) << 32; }

// Spins until done(); a worker that has not finished after a short spin was likely preempted
// (more runnable threads than cores: the server's I/O threads, other processes), so then it
// yields the core to it instead of spinning against it.
template <class Done>
void WaitUntil(Done done) {
  for (int spin = 0; !done(); ++spin) {
    if (spin < kFinishSpinIterations) {
      CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }
}

}  // namespace

void ThreadPool::RethrowAfterJob(const std::exception_ptr& mine) {
  std::exception_ptr theirs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    theirs = std::exchange(worker_exception_, nullptr);
  }
  if (mine) std::rethrow_exception(mine);
  if (theirs) std::rethrow_exception(theirs);
}

uint64_t ThreadPool::Publish(JobKind kind) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t gen =
      ((generation_.load(std::memory_order_relaxed) >> 1) + 1) << 1 | static_cast<uint64_t>(kind);
  if (kind == JobKind::kChunks) chunk_state_.store(ChunkGeneration(gen), std::memory_order_relaxed);
  generation_.store(gen, std::memory_order_release);
  return gen;
}

void ThreadPool::Run(const std::function<void(int, int)>& fn) {
  if (num_threads_ == 1) {
    fn(0, 1);
    return;
  }
  job_ = &fn;
  pending_.store(num_threads_ - 1, std::memory_order_relaxed);
  // Publishing under the mutex pairs with the sleeping workers' predicate check.
  Publish(JobKind::kEveryThread);
  if (sleeping_.load(std::memory_order_acquire) > 0) cv_.notify_all();
  std::exception_ptr mine;
  try {
    fn(0, num_threads_);
  } catch (...) {
    mine = std::current_exception();  // rethrown once the workers are done with `fn`
  }
  WaitUntil([this] { return pending_.load(std::memory_order_acquire) == 0; });
  job_ = nullptr;
  RethrowAfterJob(mine);
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn, int64_t max_chunks) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (num_threads_ == 1 || n <= grain) {
    fn(0, n);
    return;
  }
  // About four chunks per thread: enough for the others to take over a preempted thread's
  // share, few enough that a chunk's fixed costs stay small.
  const int64_t grains = (n + grain - 1) / grain;
  int64_t chunks = int64_t{4} * num_threads_;
  if (max_chunks > 0 && max_chunks < chunks) chunks = max_chunks;
  if (chunks > grains) chunks = grains;
  if (chunks > num_threads_) chunks -= chunks % num_threads_;
  chunk_n_ = n;
  chunk_grain_ = grain;
  num_chunks_ = chunks;
  chunk_fn_ = &fn;
  next_chunk_.store(0, std::memory_order_relaxed);
  Publish(JobKind::kChunks);
  if (sleeping_.load(std::memory_order_acquire) > 0) cv_.notify_all();
  std::exception_ptr mine;
  try {
    RunChunks();
  } catch (...) {
    mine = std::current_exception();
    next_chunk_.store(num_chunks_, std::memory_order_relaxed);  // the rest is skipped
  }
  // Close the job, then wait for the workers inside it (they hold claimed chunks).
  chunk_state_.fetch_or(kChunkClosed, std::memory_order_acq_rel);
  WaitUntil([this] { return (chunk_state_.load(std::memory_order_acquire) & kChunkInside) == 0; });
  chunk_fn_ = nullptr;
  RethrowAfterJob(mine);
}

void ThreadPool::RunChunks() {
  for (;;) {
    const int64_t c = next_chunk_.fetch_add(1, std::memory_order_relaxed);
    if (c >= num_chunks_) return;
    const auto [begin, end] =
        SplitRange(chunk_n_, chunk_grain_, static_cast<int>(c), static_cast<int>(num_chunks_));
    if (begin < end) (*chunk_fn_)(begin, end);
  }
}

void ThreadPool::WorkerJob(int index, uint64_t gen, JobKind kind) {
  if (kind == JobKind::kEveryThread) {
    try {
      (*job_)(index, num_threads_);
    } catch (...) {
      // The caller of Run rethrows it: a worker thread never ends the process.
      std::lock_guard<std::mutex> lock(mu_);
      if (!worker_exception_) worker_exception_ = std::current_exception();
    }
    pending_.fetch_sub(1, std::memory_order_acq_rel);
    return;
  }
  // Join the chunks of `gen` unless the caller has closed them (or moved on).
  uint64_t state = chunk_state_.load(std::memory_order_acquire);
  do {
    if ((state & ~kChunkInside) != ChunkGeneration(gen)) return;  // closed, or another job
  } while (!chunk_state_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel,
                                               std::memory_order_acquire));
  try {
    RunChunks();
  } catch (...) {
    next_chunk_.store(num_chunks_, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mu_);
    if (!worker_exception_) worker_exception_ = std::current_exception();
  }
  chunk_state_.fetch_sub(1, std::memory_order_acq_rel);
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    const auto spin_until = std::chrono::steady_clock::now() + kSpinTime;
    for (int spin = 1; gen == seen; ++spin) {
      CpuRelax();
      gen = generation_.load(std::memory_order_acquire);
      if (spin % kSpinClockEvery == 0 && std::chrono::steady_clock::now() >= spin_until) break;
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      sleeping_.fetch_add(1, std::memory_order_acq_rel);
      cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      sleeping_.fetch_sub(1, std::memory_order_acq_rel);
      gen = generation_.load(std::memory_order_acquire);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    seen = gen;
    WorkerJob(index, gen, static_cast<JobKind>(gen & 1));
  }
}

}  // namespace infer
