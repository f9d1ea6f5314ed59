// The TCP communicator's data path: the mesh of connected sockets shared by a world group and
// its sub-groups, and Transfer, which moves a set of frames to and from peers at once.
//
// A Transfer queues frames per peer (sends in order, expected receives in order) and runs them
// all together over non-blocking sockets: each pass sends and receives what the kernel takes,
// a pass without progress spins for `busy_poll` and then blocks in poll() on every socket with
// work left. So two ranks sending large buffers to each other both drain their receive buffers
// while they send, and never deadlock. A receive's callback may queue more sends (the ring
// forwards each chunk as soon as it has been reduced). A peer's data that arrives while this
// rank only has sends queued to it is read into the link's stash, so that two ranks whose Send
// calls cross (both sending a large buffer first, then receiving) both finish.
//
// Received headers are checked against what the receiver expects (type, group, sequence,
// length); any difference is Internal, naming the peer, except a peer's Leave frame, which is
// Unavailable "rank N (...) left the group". A peer that closes gives Unavailable, one
// that makes no progress for `timeout` gives DeadlineExceeded. The first error breaks the mesh
// (every socket is shut down so the other ranks fail fast too).
#ifndef INFER_COMM_TCP_TRANSPORT_H_
#define INFER_COMM_TCP_TRANSPORT_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libinfer/comm/communicator.h"
#include "libinfer/comm/frame.h"
#include "libinfer/comm/frame_seal.h"
#include "libinfer/comm/tcp_socket.h"

namespace infer::comm {

// One connection to another rank of the world.
struct PeerLink {
  Fd fd;
  std::string address;  // "ip:port" of the other end
  // The frames' seals, one per direction (frame_seal.h); set once the handshake is done.
  std::unique_ptr<FrameSealer> seal_out;
  std::unique_ptr<FrameSealer> seal_in;
  void SetKeys(const LinkKeys& keys, bool encrypt) {
    seal_out = std::make_unique<FrameSealer>(keys.send, encrypt);
    seal_in = std::make_unique<FrameSealer>(keys.recv, encrypt);
  }
  // Bytes that arrived while this rank was only sending to the peer (both sides sending large
  // buffers at once); later receives consume them first. stash_pos: bytes already consumed.
  std::vector<uint8_t> stash;
  size_t stash_pos = 0;
};

class Mesh {
 public:
  // `links` is indexed by world rank; this rank's own entry has no descriptor.
  Mesh(int rank, std::vector<PeerLink> links, uint64_t max_frame_bytes,
       std::chrono::microseconds busy_poll);

  int rank() const { return rank_; }
  int size() const { return static_cast<int>(links_.size()); }
  int fd(int world_rank) const { return links_[world_rank].fd.get(); }
  PeerLink& link(int world_rank) { return links_[world_rank]; }
  uint64_t max_frame_bytes() const { return max_frame_bytes_; }
  std::chrono::microseconds busy_poll() const { return busy_poll_; }

  // "rank 2 (127.0.0.1:41234)".
  std::string Describe(int world_rank) const;

  // OK, or the first error.
  const absl::Status& health() const { return health_; }

  // Records `error` as the mesh's error unless one is already recorded, shuts every connection
  // down and returns the recorded error.
  absl::Status Break(absl::Status error);

  // Any thread: Transfers that have moved no byte yet return Cancelled (see
  // Communicator::Interrupt). wake_fd() turns readable once interrupted, for poll().
  void Interrupt();
  bool interrupted() const { return interrupted_.load(std::memory_order_acquire); }
  int wake_fd() const { return wake_.get(); }

  // Tells every peer that this rank leaves (a kLeave frame), half-closes each connection, reads
  // and drops what peers still send until each closes or `deadline`, then breaks the mesh with
  // Cancelled. The mesh's thread only.
  absl::Status Leave(Clock::time_point deadline);

 private:
  std::atomic<bool> interrupted_{false};
  Fd wake_;  // an eventfd
  int rank_;
  std::vector<PeerLink> links_;
  uint64_t max_frame_bytes_;
  std::chrono::microseconds busy_poll_;
  absl::Status health_;
};

class Transfer {
 public:
  // `op` names the operation in errors ("AllReduceSum"); `timeout` is the longest a peer with
  // pending work may make no progress.
  Transfer(Mesh& mesh, std::string_view op, Timeout timeout);

  // Queues one frame of `header.type/group/sequence` carrying `size` bytes of `data` (which
  // must stay valid until Run returns) to `peer` (a world rank).
  void Send(int peer, const FrameHeader& header, const void* data, size_t size);
  // Queues the expectation of one frame from `peer` with exactly `expect`'s fields, whose
  // payload lands in `dst`; `on_done` (optional) runs once it has fully arrived.
  void Recv(int peer, const FrameHeader& expect, void* dst, std::function<void()> on_done = {});

  // Runs every queued frame to completion. On error the mesh is broken (see Mesh::Break).
  absl::Status Run();

 private:
  struct OutFrame {
    std::array<uint8_t, kFrameHeaderBytes> header;
    const uint8_t* data;
    size_t size;
    size_t done = 0;  // bytes of header + payload + seal written
    // Sealed when its first byte goes out, so that the seal counter follows the wire's order.
    bool sealed = false;
    SealTag seal{};
    std::vector<uint8_t> ciphertext;  // the payload, encrypted (TcpOptions::encrypt)
  };
  struct InFrame {
    FrameHeader expect;
    uint8_t* dst;
    std::function<void()> on_done;
    size_t done = 0;  // bytes of header + payload + seal read
  };
  struct Channel {
    std::deque<OutFrame> out;
    std::deque<InFrame> in;
    std::array<uint8_t, kFrameHeaderBytes> header{};
    SealTag seal{};  // the front InFrame's seal, as it arrives
    Clock::time_point last_progress;
  };

  absl::Status Progress(int peer, Channel& c, bool* progressed);
  absl::Status SendSome(int peer, Channel& c, bool* progressed);
  absl::Status RecvSome(int peer, Channel& c, bool* progressed);
  absl::Status Stash(int peer, Channel& c, bool* progressed);
  // Moves `n` received bytes into the front frame; completes it (and checks its header).
  absl::Status Advance(int peer, Channel& c, size_t n);
  // Checks the parsed header `h` of the front frame against what `f` expects.
  absl::Status CheckHeader(int peer, const InFrame& f, const absl::StatusOr<FrameHeader>& h) const;
  absl::Status Closed(int peer, int err) const;
  // Seals the front frame of `c` for `peer` (once, before its first byte goes out).
  absl::Status SealFront(int peer, Channel& c);
  absl::Status LeftTheGroup(int peer) const;
  // A Leave frame's header arrived: reads its seal (from what arrived, the stash or the socket)
  // and checks it; Unavailable "left the group" when it verifies, DataLoss when not.
  absl::Status ReadLeave(int peer, Channel& c, const InFrame& f);
  absl::Status CheckLeave(int peer, std::span<const uint8_t> header, const SealTag& seal) const;
  absl::Status Interrupted() const;

  Mesh& mesh_;
  std::string op_;
  Timeout timeout_;
  std::vector<Channel> channels_;  // indexed by world rank
};

}  // namespace infer::comm

#endif  // INFER_COMM_TCP_TRANSPORT_H_
