// Communicators: the collective and point-to-point operations that ranks of one model use to
// work together (tensor-parallel all-reduces, pipeline-parallel hand-offs, the leader's step
// commands). One interface, with a TCP implementation (CPUs, tests; tcp_communicator.h) and an
// NCCL one (GPUs; nccl_communicator.h).
//
// Every call takes a timeout and returns a Status: a peer that closed its connection gives
// Unavailable, one that stays silent past the timeout gives DeadlineExceeded, and either message
// names the peer's rank (and its address when known) and the operation. After the first such
// error the communicator is broken: every later call returns that first error at once, so a
// step that lost a rank fails fast everywhere instead of hanging rank by rank.
//
// Thread-safety: one thread at a time per communicator (the step thread). Every rank of a group
// must issue the same sequence of calls with the same sizes; a mismatch is detected (frames
// carry the operation and its size) and reported as Internal naming both sides.
#ifndef INFER_COMM_COMMUNICATOR_H_
#define INFER_COMM_COMMUNICATOR_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace infer::comm {

// Element types an all-reduce sums. BF16 is summed in F32 and rounded once per hop.
enum class ReduceType : uint8_t { kF32, kBF16 };

// How long a call waits for a peer that makes no progress (sends nothing, or takes none of what
// this rank sends) before it fails with DeadlineExceeded. A large transfer that keeps moving is
// not cut short however long it takes.
using Timeout = std::chrono::milliseconds;

class Communicator {
 public:
  virtual ~Communicator() = default;

  // This rank in [0, size()), and the number of ranks in the group.
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Sums `count` elements of `data` over every rank, in place; every rank ends with the same
  // bits (the order of the additions does not depend on the rank).
  virtual absl::Status AllReduceSum(void* data, size_t count, ReduceType type, Timeout timeout) = 0;

  // Each rank contributes `bytes` from `send`; `recv` (size() * bytes) receives every rank's
  // contribution in rank order, this rank's own included.
  virtual absl::Status AllGather(const void* send, size_t bytes, void* recv, Timeout timeout) = 0;

  // `bytes` of `data` from rank `root` to every other rank (in place).
  virtual absl::Status Broadcast(void* data, size_t bytes, int root, Timeout timeout) = 0;

  // Point to point. The sizes of a Send and its matching Recv must be equal.
  virtual absl::Status Send(const void* data, size_t bytes, int peer, Timeout timeout) = 0;
  virtual absl::Status Recv(void* data, size_t bytes, int peer, Timeout timeout) = 0;

  // Returns when every rank of the group has entered the barrier.
  virtual absl::Status Barrier(Timeout timeout) = 0;

  // A communicator over a subset of this group's ranks (given in this group's numbering, in the
  // order that makes the new ranks 0, 1, ...), sharing this one's connections. This rank must
  // be in `ranks`. Used for tensor-parallel groups inside the world group. The sub-group must
  // not outlive this communicator.
  virtual absl::StatusOr<std::unique_ptr<Communicator>> Subgroup(std::span<const int> ranks) = 0;

  // OK while healthy; the first error otherwise (see the file comment).
  virtual absl::Status health() const = 0;

  // Any thread: a call of this group (or of a sub-group sharing its connections) that is still
  // waiting for its first byte returns Cancelled at once and leaves the group intact, so that its
  // thread can Leave between two operations; a call already moving data finishes first. Every
  // later call that would wait does the same. Default: no effect.
  virtual void Interrupt() {}

  // This rank leaves the group on purpose: every peer is told (its calls then fail with
  // Unavailable "rank N ... left the group", not a lost connection), this rank waits up to
  // `timeout` for them to close, and the communicator is broken (Cancelled). Call from the
  // communicator's thread. Default: Unimplemented.
  virtual absl::Status Leave(Timeout timeout) {
    (void)timeout;
    return absl::UnimplementedError("this communicator cannot leave its group");
  }
};

}  // namespace infer::comm

#endif  // INFER_COMM_COMMUNICATOR_H_
