// POSIX TCP helpers for the communicator's rendezvous: an owning descriptor, listen / connect
// with deadlines, address formatting, and whole-frame reads and writes on non-blocking sockets.
// Every socket made here is non-blocking, close-on-exec and TCP_NODELAY; writes use
// MSG_NOSIGNAL, so a closed peer is an error Status, never a SIGPIPE.
#ifndef INFER_COMM_TCP_SOCKET_H_
#define INFER_COMM_TCP_SOCKET_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// Turns a host name into the numeric addresses to dial ("10.0.0.4", "::1"), best first. An error
// (NotFound, Unavailable) while the name is not known yet, e.g. a pod whose DNS record the
// cluster has not published: the caller retries until its deadline.
using Resolver = std::function<absl::StatusOr<std::vector<std::string>>(std::string_view host)>;

// The system's resolver: getaddrinfo (the hosts file, then DNS, as nsswitch.conf says).
absl::StatusOr<std::vector<std::string>> SystemResolve(std::string_view host);

// Connects to `host`:`port` before `deadline`. A name that does not resolve yet, a refused or
// unreachable address (the peer's pod or listener is not up yet) is retried with backoff (20 ms
// doubling to 1 s); each new cause, and the current one every 10 s, is logged at info, naming
// the host and the time left. `resolve` (empty: SystemResolve) maps the host to addresses.
// DeadlineExceeded naming the last cause.
absl::StatusOr<Fd> ConnectTcp(std::string_view host, uint16_t port, Clock::time_point deadline,
                              const Resolver& resolve = {});

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

// Reads exactly `size` bytes before `deadline`. Unavailable when the peer closed the connection,
// DeadlineExceeded when `deadline` passes.
absl::Status ReadExact(int fd, void* out, size_t size, Clock::time_point deadline);

// Milliseconds left until `deadline` for poll(): 0 when past, capped to an int.
int PollMillis(Clock::time_point deadline);

}  // namespace infer::comm

#endif  // INFER_COMM_TCP_SOCKET_H_
