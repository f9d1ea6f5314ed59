// POSIX TCP helpers for the communicator's rendezvous: an owning descriptor, listen / connect
// with deadlines, address formatting, and whole-frame reads and writes on non-blocking sockets.
// Every socket made here is non-blocking, close-on-exec and TCP_NODELAY; writes use
// MSG_NOSIGNAL, so a closed peer is an error Status, never a SIGPIPE.
#ifndef INFER_COMM_TCP_SOCKET_H_
#define INFER_COMM_TCP_SOCKET_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libinfer/comm/frame.h"

namespace infer::comm {

using Clock = std::chrono::steady_clock;

// An owned file descriptor (-1: none); closes on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset();

 private:
  int fd_ = -1;
};

// Splits "host:port" or "[v6 host]:port". InvalidArgument on anything else.
absl::StatusOr<std::pair<std::string, uint16_t>> SplitHostPort(std::string_view address);

// A listening socket bound to `host`:`port` (port 0: ephemeral). Unavailable on failure.
absl::StatusOr<Fd> ListenTcp(std::string_view host, uint16_t port);

// Connects to `host`:`port`, retrying refused connections (the listener may not be up yet)
// until `deadline`. Unavailable / DeadlineExceeded.
absl::StatusOr<Fd> ConnectTcp(std::string_view host, uint16_t port, Clock::time_point deadline);

// Makes an accepted socket non-blocking, close-on-exec and TCP_NODELAY.
absl::Status PrepareSocket(int fd);

// The bound port of a socket; the numeric host ("127.0.0.1", "::1") and "host:port" ("[::1]:9")
// of its local or remote end.
uint16_t LocalPort(int fd);
std::string LocalHost(int fd);
std::string RemoteHost(int fd);
std::string RemoteAddress(int fd);

// Writes all of `data` before `deadline`. Unavailable if the peer is gone.
absl::Status WriteAll(int fd, std::string_view data, Clock::time_point deadline);

// Reads one whole frame (header checked against `max_payload_bytes`). Unavailable when the peer
// closed the connection, DeadlineExceeded when `deadline` passes, InvalidArgument on a bad
// header.
absl::StatusOr<std::pair<FrameHeader, std::string>> ReadFrame(int fd, uint64_t max_payload_bytes,
                                                              Clock::time_point deadline);

// Milliseconds left until `deadline` for poll(): 0 when past, capped to an int.
int PollMillis(Clock::time_point deadline);

}  // namespace infer::comm

#endif  // INFER_COMM_TCP_SOCKET_H_
