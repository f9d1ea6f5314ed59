// The communicator's mutual HMAC-SHA256 handshake, both sides.
//
//   connecting side                          accepting side
//   Hello{rank, world, target, port, host, Nc}  ->
//                                            <-  Challenge{rank, world, Ns,
//                                                  HMAC(secret, "server" | transcript)}
//   checks the tag (the acceptor knows the secret)
//   Proof{HMAC(secret, "client" | transcript)}  ->
//                                            <-  Welcome   (after checking the tag)
//
// The transcript (HandshakeTranscript) binds both nonces, both ranks, the world size and the
// connecting side's port and host; tags are compared in constant time. The accepting side serves
// any number of connections at once, so a stranger that sends garbage or nothing delays nobody:
// it is logged and closed when it misbehaves or when its handshake timeout passes.
#ifndef INFER_COMM_TCP_HANDSHAKE_H_
#define INFER_COMM_TCP_HANDSHAKE_H_

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libinfer/comm/frame.h"
#include "libinfer/comm/frame_seal.h"
#include "libinfer/comm/tcp_socket.h"

namespace infer::comm {

// Runs the connecting side on `fd` (connected, non-blocking): `hello` without its nonce, which
// is drawn here. `peer` names the other side in errors ("rank 0 (10.0.0.1:29500)"). Returns the
// connection's frame keys (frame_seal.h; `encrypt` is bound into them). PermissionDenied if the
// acceptor fails authentication or refuses ours; Unavailable / DeadlineExceeded on transport
// trouble.
absl::StatusOr<LinkKeys> ConnectHandshake(int fd, HelloMessage hello, std::string_view secret,
                                          const std::string& peer, Clock::time_point deadline,
                                          bool encrypt);

// One authenticated incoming connection.
struct JoinedPeer {
  HelloMessage hello;
  Fd fd;
  std::string address;  // "ip:port" as seen by the acceptor
  LinkKeys keys;        // the connection's frame keys, this side's view
};

struct AcceptSpec {
  int rank = 0;                     // the accepting rank
  int world_size = 1;               // every Hello must name this world size and target `rank`
  std::vector<int> expected_ranks;  // the ranks to wait for, each once
  std::string_view secret;
  std::chrono::milliseconds handshake_timeout{5000};
  std::function<void(int rank, std::string_view address)> on_join;
  bool encrypt = false;  // bound into the frame keys (DeriveLinkKeys)
};

// Accepts on `listen_fd` until every expected rank has authenticated; drops (and logs) every
// other connection. Returns the peers in the order of `expected_ranks`. DeadlineExceeded naming
// the missing ranks if `deadline` passes first.
absl::StatusOr<std::vector<JoinedPeer>> AcceptPeers(int listen_fd, const AcceptSpec& spec,
                                                    Clock::time_point deadline);

}  // namespace infer::comm

#endif  // INFER_COMM_TCP_HANDSHAKE_H_
