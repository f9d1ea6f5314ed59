#include "libinfer/comm/tcp_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libinfer/util/logging.h"
#include "libinfer/util/status_macros.h"

namespace infer::comm {
namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

struct AddrInfoDeleter {
  void operator()(addrinfo* ai) const { freeaddrinfo(ai); }
};

absl::StatusOr<std::unique_ptr<addrinfo, AddrInfoDeleter>> Resolve(std::string_view host,
                                                                   uint16_t port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* result = nullptr;
  const std::string host_str(host);
  const std::string port_str = std::to_string(port);
  const int rc =
      getaddrinfo(host_str.empty() ? nullptr : host_str.c_str(), port_str.c_str(), &hints, &result);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve '", std::string(host), "': ", gai_strerror(rc)));
  }
  return std::unique_ptr<addrinfo, AddrInfoDeleter>(result);
}

std::string FormatSockaddr(const sockaddr_storage& ss, bool with_port) {
  char buf[INET6_ADDRSTRLEN] = {0};
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    port = ntohs(in->sin_port);
    return with_port ? absl::StrCat(buf, ":", port) : std::string(buf);
  }
  if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    port = ntohs(in6->sin6_port);
    return with_port ? absl::StrCat("[", buf, "]:", port) : std::string(buf);
  }
  return "?";
}

}  // namespace

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

Fd::~Fd() { reset(); }

void Fd::reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

absl::StatusOr<std::pair<std::string, uint16_t>> SplitHostPort(std::string_view address) {
  std::string_view host;
  std::string_view port;
  if (!address.empty() && address.front() == '[') {
    const size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("bad address '", std::string(address), "'"));
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == std::string_view::npos || address.find(':') != colon) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad address '", std::string(address), "': expected host:port"));
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  uint32_t p = 0;
  if (host.empty() || !absl::SimpleAtoi(std::string(port), &p) || p == 0 || p > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad address '", std::string(address), "'"));
  }
  return std::make_pair(std::string(host), static_cast<uint16_t>(p));
}

absl::Status PrepareSocket(int fd) {
  const int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return absl::UnavailableError(absl::StrCat("fcntl(O_NONBLOCK): ", ErrnoText(errno)));
  }
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  int one = 1;
  // TCP_NODELAY fails on a listening socket of some kernels; it matters only on connections.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return absl::OkStatus();
}

absl::StatusOr<Fd> ListenTcp(std::string_view host, uint16_t port) {
  auto ai = Resolve(host, port, /*passive=*/true);
  if (!ai.ok()) return ai.status();
  std::string last_error = "no address";
  for (addrinfo* a = ai->get(); a != nullptr; a = a->ai_next) {
    Fd fd(socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd.valid()) {
      last_error = absl::StrCat("socket: ", ErrnoText(errno));
      continue;
    }
    int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd.get(), a->ai_addr, a->ai_addrlen) != 0) {
      last_error = absl::StrCat("bind: ", ErrnoText(errno));
      continue;
    }
    if (listen(fd.get(), 128) != 0) {
      last_error = absl::StrCat("listen: ", ErrnoText(errno));
      continue;
    }
    auto s = PrepareSocket(fd.get());
    if (!s.ok()) return s;
    return fd;
  }
  return absl::UnavailableError(
      absl::StrCat("cannot listen on ", std::string(host), ":", port, ": ", last_error));
}

absl::StatusOr<std::vector<std::string>> SystemResolve(std::string_view host) {
  auto ai = Resolve(host, 0, /*passive=*/false);
  if (!ai.ok()) return ai.status();
  std::vector<std::string> out;
  for (addrinfo* a = ai->get(); a != nullptr; a = a->ai_next) {
    if (a->ai_addrlen > sizeof(sockaddr_storage)) continue;
    sockaddr_storage ss{};
    std::memcpy(&ss, a->ai_addr, a->ai_addrlen);
    std::string numeric = FormatSockaddr(ss, /*with_port=*/false);
    if (numeric != "?" && std::find(out.begin(), out.end(), numeric) == out.end()) {
      out.push_back(std::move(numeric));
    }
  }
  if (out.empty()) {
    return absl::NotFoundError(absl::StrCat("'", std::string(host), "' has no IP address"));
  }
  return out;
}

namespace {

// One connection attempt to a numeric address; the errno text on failure.
absl::StatusOr<Fd> ConnectOnce(const std::string& numeric_host, uint16_t port,
                               Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* raw = nullptr;
  const std::string port_str = std::to_string(port);
  if (const int rc = getaddrinfo(numeric_host.c_str(), port_str.c_str(), &hints, &raw); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", numeric_host, "' is not an IP address: ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, AddrInfoDeleter> ai(raw);
  Fd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
  if (!fd.valid()) return absl::UnavailableError(absl::StrCat("socket: ", ErrnoText(errno)));
  INFER_RETURN_IF_ERROR(PrepareSocket(fd.get()));
  int rc = connect(fd.get(), ai->ai_addr, ai->ai_addrlen);
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd p{fd.get(), POLLOUT, 0};
    rc = poll(&p, 1, PollMillis(deadline));
    if (rc == 1) {
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      errno = err;
      rc = err == 0 ? 0 : -1;
    } else {
      errno = rc == 0 ? ETIMEDOUT : errno;
      rc = -1;
    }
  }
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat(numeric_host, ": ", ErrnoText(errno)));
  }
  return fd;
}

}  // namespace

absl::StatusOr<Fd> ConnectTcp(std::string_view host, uint16_t port, Clock::time_point deadline,
                              const Resolver& resolve) {
  const std::string target = absl::StrCat(std::string(host), ":", port);
  constexpr auto kFirstBackoff = std::chrono::milliseconds(20);
  constexpr auto kMaxBackoff = std::chrono::seconds(1);
  constexpr auto kLogInterval = std::chrono::seconds(10);
  auto backoff = std::chrono::duration_cast<Clock::duration>(kFirstBackoff);
  std::string cause;
  std::string logged_cause;
  Clock::time_point logged_at;
  while (true) {
    absl::StatusOr<std::vector<std::string>> addresses =
        resolve ? resolve(host) : SystemResolve(host);
    if (!addresses.ok()) {
      cause = std::string(addresses.status().message());
      if (cause.empty()) cause = absl::StrCat("cannot resolve '", std::string(host), "'");
    } else if (addresses->empty()) {
      cause = absl::StrCat("'", std::string(host), "' has no IP address");
    } else {
      for (const std::string& a : *addresses) {
        absl::StatusOr<Fd> fd = ConnectOnce(a, port, deadline);
        if (fd.ok()) return fd;
        cause = std::string(fd.status().message());
      }
    }
    const Clock::time_point now = Clock::now();
    if (now >= deadline) break;
    if (cause != logged_cause || now - logged_at >= kLogInterval) {
      INFER_LOG(kInfo, "cannot reach %s yet (%s); retrying for %d s more", target, cause,
                static_cast<int>(std::chrono::ceil<std::chrono::seconds>(deadline - now).count()));
      logged_cause = cause;
      logged_at = now;
    }
    std::this_thread::sleep_for(std::min<Clock::duration>(backoff, deadline - now));
    backoff = std::min<Clock::duration>(2 * backoff, kMaxBackoff);
  }
  return absl::DeadlineExceededError(absl::StrCat("cannot connect to ", target, ": ", cause));
}

uint16_t LocalPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

std::string LocalHost(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  return FormatSockaddr(ss, /*with_port=*/false);
}

std::string RemoteHost(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return FormatSockaddr(ss, /*with_port=*/false);
}

std::string RemoteAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return FormatSockaddr(ss, /*with_port=*/true);
}

int PollMillis(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return 0;
  return static_cast<int>(std::min<int64_t>(left.count(), 1 << 30));
}

absl::Status WriteAll(int fd, std::string_view data, Clock::time_point deadline) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      const int rc = poll(&p, 1, PollMillis(deadline));
      if (rc == 0) return absl::DeadlineExceededError("timed out writing");
      continue;
    }
    return absl::UnavailableError(
        absl::StrCat("the connection is closed (", ErrnoText(errno), ")"));
  }
  return absl::OkStatus();
}

namespace {

absl::Status ReadExactly(int fd, char* out, size_t size, Clock::time_point deadline) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = recv(fd, out + done, size - done, 0);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return absl::UnavailableError("closed the connection");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      pollfd p{fd, POLLIN, 0};
      const int rc = poll(&p, 1, PollMillis(deadline));
      if (rc == 0) return absl::DeadlineExceededError("sent nothing in time");
      continue;
    }
    return absl::UnavailableError(absl::StrCat("closed the connection (", ErrnoText(errno), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ReadExact(int fd, void* out, size_t size, Clock::time_point deadline) {
  return ReadExactly(fd, static_cast<char*>(out), size, deadline);
}

absl::StatusOr<std::pair<FrameHeader, std::string>> ReadFrame(int fd, uint64_t max_payload_bytes,
                                                              Clock::time_point deadline) {
  char header_bytes[kFrameHeaderBytes];
  auto s = ReadExactly(fd, header_bytes, sizeof(header_bytes), deadline);
  if (!s.ok()) return s;
  auto header = ParseFrameHeader({header_bytes, sizeof(header_bytes)}, max_payload_bytes);
  if (!header.ok()) return header.status();
  std::string payload(header->length, '\0');
  s = ReadExactly(fd, payload.data(), payload.size(), deadline);
  if (!s.ok()) return s;
  return std::make_pair(*header, std::move(payload));
}

}  // namespace infer::comm
