// The TCP communicator: a full mesh of authenticated TCP connections between the ranks of one
// model, for CPUs, tests and hosts without NCCL.
//
// Rendezvous. Rank 0 (the leader) listens; every other rank dials it, proves it knows the shared
// secret (and checks that the leader does too: HMAC-SHA256 challenge-response with fresh nonces
// from both sides, binding both ranks and the world size), and reports the port where it accepts
// its own peers. Once all world_size - 1 ranks have joined, the leader sends each the peer table
// (addresses as the leader saw them, or as each rank advertised them); rank i then dials every
// rank j in (0, i) with the same handshake. A connection that sends garbage, a bad tag, a wrong
// world size, a duplicate rank, or nothing within the handshake timeout is logged and closed, and
// the leader goes on waiting for the real ranks.
//
//   // rank 0
//   TcpOptions options{.rank = 0, .world_size = 4, .secret = secret};
//   INFER_ASSIGN_OR_RETURN(auto rendezvous, TcpRendezvous::Listen("0.0.0.0", 29500, options));
//   INFER_ASSIGN_OR_RETURN(auto comm, rendezvous->Accept(std::chrono::seconds(60)));
//   // rank r > 0
//   INFER_ASSIGN_OR_RETURN(auto comm, JoinTcp("10.0.0.1:29500", options_with_rank_r));
//
// Data path: non-blocking sockets (TCP_NODELAY) driven by poll(), sends and receives progressing
// together so that ranks sending large buffers to each other never deadlock; a short busy-poll
// spin before blocking keeps small-message latency low. Small all-reduces exchange the whole
// buffer with every peer and sum in rank order; large ones run a pipelined ring (reduce-scatter +
// all-gather). Either way every rank ends with the same bits.
#ifndef INFER_COMM_TCP_COMMUNICATOR_H_
#define INFER_COMM_TCP_COMMUNICATOR_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "libinfer/comm/communicator.h"
#include "libinfer/comm/frame.h"
#include "libinfer/comm/tcp_socket.h"

namespace infer::comm {

struct TcpOptions {
  // This process's rank in [0, world_size); 0 is the leader (TcpRendezvous), others JoinTcp.
  int rank = 0;
  // Number of ranks, at least 1.
  int world_size = 1;
  // Shared secret every rank must know; required, at least 16 bytes (InvalidArgument otherwise).
  // There is no default on purpose.
  std::string secret;
  // How long JoinTcp waits for the leader to answer and for the whole mesh to form (the leader's
  // Accept takes its own timeout). Until then a leader whose name does not resolve yet or whose
  // port refuses is retried with backoff (ConnectTcp).
  std::chrono::milliseconds join_timeout = std::chrono::seconds(60);
  // Maps the leader's and the peers' host names to addresses; empty: the system's resolver.
  Resolver resolver;
  // How long one connection may take to complete its handshake before it is dropped. Keeps a
  // silent or slow stranger from holding a slot.
  std::chrono::milliseconds handshake_timeout = std::chrono::seconds(5);
  // Called by the accepting side for every rank that authenticates: the leader gets one call per
  // joining rank, e.g. to log "rank 3 joined from 10.0.0.4:51234". Runs on the calling thread.
  std::function<void(int rank, std::string_view address)> on_join;
  // Host this rank tells the others to dial for its mesh port; empty: the address the leader
  // sees this rank's connection come from.
  std::string advertised_host;
  // Host a joining rank binds its mesh listener to; empty: the local address of its connection
  // to the leader.
  std::string listen_host;
  // Every frame after the handshake carries an AES-128-GCM tag (frame_seal.h); with `encrypt`
  // its payload is also encrypted. Every rank of a world must agree (a rank that does not
  // fails every frame's check).
  bool encrypt = false;
  // Largest frame payload accepted from a peer; bigger announcements are a protocol error.
  uint64_t max_frame_bytes = kDefaultMaxFrameBytes;
  // How long the data path spins on non-blocking reads before it blocks in poll(). Lowers the
  // latency of small collectives at the cost of CPU time; zero never spins.
  std::chrono::microseconds busy_poll = std::chrono::microseconds(20);
  // All-reduces of at most this many bytes exchange the whole buffer with every peer (fewest
  // round trips); bigger ones use the ring (least traffic).
  size_t ring_threshold_bytes = 256 * 1024;
  // The ring's pipeline unit, and the largest frame any operation sends.
  size_t chunk_bytes = 1 << 20;
};

// The leader's side of the rendezvous.
class TcpRendezvous {
 public:
  // Binds `host`:`port` (port 0: an ephemeral port, see port()). `options.rank` must be 0.
  // InvalidArgument on bad options, Unavailable if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<TcpRendezvous>> Listen(std::string_view host, uint16_t port,
                                                               const TcpOptions& options);
  ~TcpRendezvous();

  // The bound port.
  uint16_t port() const;

  // Waits until world_size - 1 ranks have joined (dropping impostors), sends each the peer
  // table and returns rank 0's communicator. DeadlineExceeded naming the missing ranks if they
  // do not all join within `timeout`. Call once.
  absl::StatusOr<std::unique_ptr<Communicator>> Accept(Timeout timeout);

 private:
  struct Impl;
  explicit TcpRendezvous(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A non-leader rank: dials the leader at `leader_address` ("host:port", "[v6]:port"), joins,
// connects to its peers and returns its communicator. Errors: InvalidArgument (options),
// Unavailable (cannot connect), PermissionDenied (the leader failed the mutual authentication or
// refused ours), DeadlineExceeded (options.join_timeout).
absl::StatusOr<std::unique_ptr<Communicator>> JoinTcp(std::string_view leader_address,
                                                      const TcpOptions& options);

}  // namespace infer::comm

#endif  // INFER_COMM_TCP_COMMUNICATOR_H_
