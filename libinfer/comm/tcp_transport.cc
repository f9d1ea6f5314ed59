#include "libinfer/comm/tcp_transport.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libinfer/util/status_macros.h"

namespace infer::comm {
namespace {

// A frame on the wire is up to three parts: header, payload, seal. Walks them from byte `done`.
struct FrameParts {
  uint8_t* part[3];
  size_t size[3];
  size_t total() const { return size[0] + size[1] + size[2]; }
  // The iovecs of what is left after `done` bytes; returns their number.
  int Iov(size_t done, iovec* iov) const {
    int n = 0;
    for (int i = 0; i < 3; ++i) {
      if (done >= size[i]) {
        done -= size[i];
        continue;
      }
      iov[n++] = {part[i] + done, size[i] - done};
      done = 0;
    }
    return n;
  }
  // Copies `n` bytes of the parts from byte `done` on into `dst`.
  void CopyOut(size_t done, uint8_t* dst, size_t n) const {
    for (int i = 0; i < 3 && n > 0; ++i) {
      if (done >= size[i]) {
        done -= size[i];
        continue;
      }
      const size_t k = std::min(n, size[i] - done);
      std::memcpy(dst, part[i] + done, k);
      dst += k;
      n -= k;
      done = 0;
    }
  }
  // Copies `n` bytes of `src` into the parts from byte `done` on.
  void CopyIn(size_t done, const uint8_t* src, size_t n) const {
    for (int i = 0; i < 3 && n > 0; ++i) {
      if (done >= size[i]) {
        done -= size[i];
        continue;
      }
      const size_t k = std::min(n, size[i] - done);
      std::memcpy(part[i] + done, src, k);
      src += k;
      n -= k;
      done = 0;
    }
  }
};

}  // namespace

Mesh::Mesh(int rank, std::vector<PeerLink> links, uint64_t max_frame_bytes,
           std::chrono::microseconds busy_poll)
    : wake_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      rank_(rank),
      links_(std::move(links)),
      max_frame_bytes_(max_frame_bytes),
      busy_poll_(busy_poll) {}

void Mesh::Interrupt() {
  interrupted_.store(true, std::memory_order_release);
  if (wake_.valid()) {
    const uint64_t one = 1;
    (void)!write(wake_.get(), &one, sizeof(one));
  }
}

absl::Status Mesh::Leave(Clock::time_point deadline) {
  if (!health_.ok()) return health_;
  std::vector<pollfd> open;
  for (PeerLink& link : links_) {
    if (!link.fd.valid()) continue;
    // Sealed like every frame, so that nobody else can end the group in this rank's name.
    std::string frame;
    if (link.seal_out != nullptr) {
      absl::StatusOr<std::string> sealed = SealFrame(*link.seal_out, FrameType::kLeave, "");
      if (!sealed.ok()) continue;
      frame = *std::move(sealed);
    } else {
      const auto header = EncodeFrameHeader({FrameType::kLeave, 0, 0, 0});
      frame.assign(reinterpret_cast<const char*>(header.data()), header.size());
    }
    // Between operations nothing is half sent, so the frame starts on a frame boundary.
    if (WriteAll(link.fd.get(), frame, deadline).ok()) {
      shutdown(link.fd.get(), SHUT_WR);
      open.push_back({link.fd.get(), POLLIN, 0});
    }
  }
  // Until each peer has read the frame and closed its end: a socket closed with unread data
  // would send a reset, which may reach the peer before the frame does.
  char scratch[4096];
  while (!open.empty() && Clock::now() < deadline) {
    if (poll(open.data(), open.size(), PollMillis(deadline)) <= 0) continue;
    for (size_t i = 0; i < open.size();) {
      ssize_t n = 0;
      if (open[i].revents != 0) {
        do {
          n = recv(open[i].fd, scratch, sizeof(scratch), MSG_DONTWAIT);
        } while (n > 0 || (n < 0 && errno == EINTR));
      }
      const bool closed =
          open[i].revents != 0 && (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK));
      if (closed) {
        open.erase(open.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        open[i++].revents = 0;
      }
    }
  }
  (void)Break(absl::CancelledError(absl::StrCat("rank ", rank_, " left the group")));
  return absl::OkStatus();
}

std::string Mesh::Describe(int world_rank) const {
  return absl::StrCat("rank ", world_rank, " (", links_[world_rank].address, ")");
}

absl::Status Mesh::Break(absl::Status error) {
  if (health_.ok()) {
    health_ = std::move(error);
    // The other ranks are likely waiting on this one: make them fail now, not at their timeout.
    for (PeerLink& link : links_) {
      if (link.fd.valid()) shutdown(link.fd.get(), SHUT_RDWR);
    }
  }
  return health_;
}

Transfer::Transfer(Mesh& mesh, std::string_view op, Timeout timeout)
    : mesh_(mesh), op_(op), timeout_(timeout), channels_(mesh.size()) {}

void Transfer::Send(int peer, const FrameHeader& header, const void* data, size_t size) {
  FrameHeader h = header;
  h.length = size;
  OutFrame f;
  f.header = EncodeFrameHeader(h);
  f.data = static_cast<const uint8_t*>(data);
  f.size = size;
  channels_[peer].out.push_back(std::move(f));
}

void Transfer::Recv(int peer, const FrameHeader& expect, void* dst, std::function<void()> on_done) {
  channels_[peer].in.push_back({expect, static_cast<uint8_t*>(dst), std::move(on_done)});
}

absl::Status Transfer::Closed(int peer, int err) const {
  // A peer that left on purpose sent a Leave frame first; it may sit in the stash.
  PeerLink& link = mesh_.link(peer);
  const size_t seal_bytes = link.seal_in != nullptr ? kFrameSealBytes : 0;
  if (link.stash.size() - link.stash_pos >= kFrameHeaderBytes + seal_bytes) {
    const uint8_t* at = link.stash.data() + link.stash_pos;
    auto h = ParseFrameHeader({reinterpret_cast<const char*>(at), kFrameHeaderBytes},
                              mesh_.max_frame_bytes());
    if (h.ok() && h->type == FrameType::kLeave) {
      SealTag seal{};
      if (seal_bytes > 0) std::memcpy(seal.data(), at + kFrameHeaderBytes, seal_bytes);
      return CheckLeave(peer, {at, kFrameHeaderBytes}, seal);
    }
  }
  std::string why = err == 0 ? "" : absl::StrCat(" (", std::strerror(err), ")");
  return absl::UnavailableError(
      absl::StrCat(mesh_.Describe(peer), " closed the connection during ", op_, why));
}

absl::Status Transfer::CheckLeave(int peer, std::span<const uint8_t> header,
                                  const SealTag& seal) const {
  FrameSealer* seal_in = mesh_.link(peer).seal_in.get();
  if (seal_in != nullptr) {
    const absl::Status opened = seal_in->Open(header, {}, seal);
    if (!opened.ok()) {
      return absl::Status(opened.code(),
                          absl::StrCat(mesh_.Describe(peer), ": a Leave ", opened.message(),
                                       " during ", op_, "; the link is closed"));
    }
  }
  return LeftTheGroup(peer);
}

absl::Status Transfer::ReadLeave(int peer, Channel& c, const InFrame& f) {
  PeerLink& link = mesh_.link(peer);
  SealTag seal{};
  if (link.seal_in != nullptr) {
    // The seal follows the header: what already arrived sits where the expected frame's payload
    // (and seal) would have gone; the rest is in the stash or still on the socket.
    const FrameParts parts{{c.header.data(), f.dst, c.seal.data()},
                           {kFrameHeaderBytes, f.expect.length, kFrameSealBytes}};
    size_t have = std::min(f.done - kFrameHeaderBytes, kFrameSealBytes);
    parts.CopyOut(kFrameHeaderBytes, seal.data(), have);
    const size_t stashed = std::min(kFrameSealBytes - have, link.stash.size() - link.stash_pos);
    if (stashed > 0) {
      std::memcpy(seal.data() + have, link.stash.data() + link.stash_pos, stashed);
      link.stash_pos += stashed;
      have += stashed;
    }
    if (have < kFrameSealBytes) {
      const absl::Status read =
          ReadExact(link.fd.get(), seal.data() + have, kFrameSealBytes - have,
                    Clock::now() + std::min<Timeout>(timeout_, std::chrono::seconds(2)));
      if (!read.ok()) return Closed(peer, 0);
    }
  }
  return CheckLeave(peer, c.header, seal);
}

absl::Status Transfer::LeftTheGroup(int peer) const {
  return absl::UnavailableError(absl::StrCat(mesh_.Describe(peer), " left the group during ", op_));
}

absl::Status Transfer::SealFront(int peer, Channel& c) {
  OutFrame& f = c.out.front();
  f.sealed = true;
  FrameSealer* seal = mesh_.link(peer).seal_out.get();
  if (seal == nullptr) return absl::OkStatus();  // a link without keys sends bare frames
  if (seal->encrypt()) f.ciphertext.resize(f.size);
  auto tag =
      seal->Seal(f.header, {f.data, f.size}, seal->encrypt() ? f.ciphertext.data() : nullptr);
  if (!tag.ok()) return tag.status();
  f.seal = *tag;
  if (seal->encrypt()) f.data = f.ciphertext.data();
  return absl::OkStatus();
}

absl::Status Transfer::SendSome(int peer, Channel& c, bool* progressed) {
  const bool sealing = mesh_.link(peer).seal_out != nullptr;
  while (!c.out.empty()) {
    OutFrame& f = c.out.front();
    if (!f.sealed) INFER_RETURN_IF_ERROR(SealFront(peer, c));
    const FrameParts parts{{f.header.data(), const_cast<uint8_t*>(f.data), f.seal.data()},
                           {kFrameHeaderBytes, f.size, sealing ? kFrameSealBytes : 0}};
    iovec iov[3];
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(parts.Iov(f.done, iov));
    const ssize_t n = sendmsg(mesh_.fd(peer), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return absl::OkStatus();
      return Closed(peer, errno);
    }
    *progressed = true;
    c.last_progress = Clock::now();
    f.done += static_cast<size_t>(n);
    if (f.done == parts.total()) c.out.pop_front();
  }
  return absl::OkStatus();
}

absl::Status Transfer::CheckHeader(int peer, const InFrame& f,
                                   const absl::StatusOr<FrameHeader>& h) const {
  if (!h.ok()) {
    return absl::InternalError(absl::StrCat(mesh_.Describe(peer), " sent a malformed frame during ",
                                            op_, " (altered in transit?): ", h.status().message()));
  }
  const FrameHeader& e = f.expect;
  if (h->type != e.type || h->group != e.group || h->sequence != e.sequence ||
      h->length != e.length) {
    return absl::InternalError(absl::StrCat(
        mesh_.Describe(peer), " sent ", FrameTypeName(h->type), " (group ", h->group, ", op ",
        h->sequence, ", ", h->length, " bytes) while rank ", mesh_.rank(), " expects ",
        FrameTypeName(e.type), " (group ", e.group, ", op ", e.sequence, ", ", e.length,
        " bytes) during ", op_,
        ": the ranks issued different operations (or the frame was altered in transit)"));
  }
  return absl::OkStatus();
}

absl::Status Transfer::Advance(int peer, Channel& c, size_t n) {
  InFrame& f = c.in.front();
  const size_t before = f.done;
  f.done += n;
  c.last_progress = Clock::now();
  if (before < kFrameHeaderBytes && f.done >= kFrameHeaderBytes) {
    const absl::StatusOr<FrameHeader> h =
        ParseFrameHeader({reinterpret_cast<const char*>(c.header.data()), kFrameHeaderBytes},
                         mesh_.max_frame_bytes());
    if (h.ok() && h->type == FrameType::kLeave) return ReadLeave(peer, c, f);
    INFER_RETURN_IF_ERROR(CheckHeader(peer, f, h));
  }
  FrameSealer* seal = mesh_.link(peer).seal_in.get();
  const size_t total =
      kFrameHeaderBytes + f.expect.length + (seal != nullptr ? kFrameSealBytes : 0);
  if (f.done == total) {
    if (seal != nullptr) {
      absl::Status opened = seal->Open(c.header, {f.dst, f.expect.length}, c.seal);
      if (!opened.ok()) {
        return absl::Status(opened.code(),
                            absl::StrCat(mesh_.Describe(peer), ": ", opened.message(), " during ",
                                         op_, "; the link is closed"));
      }
    }
    std::function<void()> on_done = std::move(f.on_done);
    c.in.pop_front();
    if (on_done) on_done();
  }
  return absl::OkStatus();
}

absl::Status Transfer::RecvSome(int peer, Channel& c, bool* progressed) {
  PeerLink& link = mesh_.link(peer);
  const size_t seal_bytes = link.seal_in != nullptr ? kFrameSealBytes : 0;
  // First what was stashed while this rank was sending.
  while (!c.in.empty() && link.stash_pos < link.stash.size()) {
    InFrame& f = c.in.front();
    const FrameParts parts{{c.header.data(), f.dst, c.seal.data()},
                           {kFrameHeaderBytes, f.expect.length, seal_bytes}};
    size_t n = std::min(parts.total() - f.done, link.stash.size() - link.stash_pos);
    // The header is checked before the payload it announces is taken.
    if (f.done < kFrameHeaderBytes) n = std::min(n, kFrameHeaderBytes - f.done);
    parts.CopyIn(f.done, link.stash.data() + link.stash_pos, n);
    link.stash_pos += n;
    if (link.stash_pos == link.stash.size()) {
      link.stash.clear();
      link.stash_pos = 0;
    }
    *progressed = true;
    INFER_RETURN_IF_ERROR(Advance(peer, c, n));
  }
  while (!c.in.empty()) {
    InFrame& f = c.in.front();
    // Header, payload and seal in one call: the payload size is known in advance. A header
    // that turns out wrong fails the operation, so what landed in `dst` does not matter then.
    const FrameParts parts{{c.header.data(), f.dst, c.seal.data()},
                           {kFrameHeaderBytes, f.expect.length, seal_bytes}};
    iovec iov[3];
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(parts.Iov(f.done, iov));
    const ssize_t n = recvmsg(mesh_.fd(peer), &msg, MSG_DONTWAIT);
    if (n == 0) return Closed(peer, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return absl::OkStatus();
      return Closed(peer, errno);
    }
    *progressed = true;
    INFER_RETURN_IF_ERROR(Advance(peer, c, static_cast<size_t>(n)));
  }
  return absl::OkStatus();
}

absl::Status Transfer::Stash(int peer, Channel& c, bool* progressed) {
  PeerLink& link = mesh_.link(peer);
  constexpr size_t kStep = 256 * 1024;
  while (true) {
    const size_t old = link.stash.size();
    link.stash.resize(old + kStep);
    const ssize_t n = recv(mesh_.fd(peer), link.stash.data() + old, kStep, MSG_DONTWAIT);
    link.stash.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    if (n == 0) return Closed(peer, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return absl::OkStatus();
      return Closed(peer, errno);
    }
    *progressed = true;
  }
}

absl::Status Transfer::Progress(int peer, Channel& c, bool* progressed) {
  INFER_RETURN_IF_ERROR(SendSome(peer, c, progressed));
  INFER_RETURN_IF_ERROR(RecvSome(peer, c, progressed));
  // A receive callback may have queued sends: push them out in the same pass.
  if (!c.out.empty()) INFER_RETURN_IF_ERROR(SendSome(peer, c, progressed));
  // Only sending to this peer: keep reading what it sends, or two crossing Sends would wait on
  // each other forever.
  if (c.in.empty() && !c.out.empty()) INFER_RETURN_IF_ERROR(Stash(peer, c, progressed));
  return absl::OkStatus();
}

absl::Status Transfer::Interrupted() const {
  return absl::CancelledError(absl::StrCat(op_, " interrupted before it started: rank ",
                                           mesh_.rank(), " is leaving the group"));
}

absl::Status Transfer::Run() {
  if (!mesh_.health().ok()) return mesh_.health();
  if (mesh_.interrupted()) return Interrupted();
  const Clock::time_point start = Clock::now();
  bool moved = false;  // any byte of this transfer sent or received
  for (Channel& c : channels_) c.last_progress = start;
  std::vector<pollfd> fds;
  Clock::time_point idle_since = start;
  while (true) {
    bool progressed = false;
    bool work = false;
    for (int peer = 0; peer < static_cast<int>(channels_.size()); ++peer) {
      Channel& c = channels_[peer];
      if (c.out.empty() && c.in.empty()) continue;
      auto s = Progress(peer, c, &progressed);
      if (!s.ok()) return mesh_.Break(std::move(s));
    }
    // After the pass: a receive's callback may have queued work on a channel already visited.
    for (const Channel& c : channels_) work = work || !c.out.empty() || !c.in.empty();
    if (!work) return absl::OkStatus();
    const Clock::time_point now = Clock::now();
    if (progressed) {
      moved = true;
      idle_since = now;
      continue;
    }
    if (!moved && mesh_.interrupted()) return Interrupted();
    // The peer that has been quiet longest decides the timeout.
    int quiet = -1;
    for (int peer = 0; peer < static_cast<int>(channels_.size()); ++peer) {
      const Channel& c = channels_[peer];
      if (c.out.empty() && c.in.empty()) continue;
      if (quiet < 0 || c.last_progress < channels_[quiet].last_progress) quiet = peer;
    }
    const Clock::time_point deadline = channels_[quiet].last_progress + timeout_;
    if (now >= deadline) {
      const Channel& c = channels_[quiet];
      const std::string what = c.in.empty() ? "took no data" : "sent nothing";
      return mesh_.Break(absl::DeadlineExceededError(absl::StrCat(
          mesh_.Describe(quiet), " ", what, " for ", timeout_.count(), " ms during ", op_)));
    }
    if (now - idle_since < mesh_.busy_poll()) continue;  // spin: data is usually microseconds away
    fds.clear();
    for (int peer = 0; peer < static_cast<int>(channels_.size()); ++peer) {
      const Channel& c = channels_[peer];
      if (c.out.empty() && c.in.empty()) continue;
      const short events = static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT));
      fds.push_back({mesh_.fd(peer), events, 0});
    }
    if (!moved && mesh_.wake_fd() >= 0) fds.push_back({mesh_.wake_fd(), POLLIN, 0});
    const int rc = poll(fds.data(), fds.size(), PollMillis(deadline));
    if (rc < 0 && errno != EINTR) {
      return mesh_.Break(absl::InternalError(absl::StrCat("poll: ", std::strerror(errno))));
    }
    // Whatever poll() reported (data, room, hang-up, error) the next pass acts on.
  }
}

}  // namespace infer::comm
