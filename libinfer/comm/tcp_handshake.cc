#include "libinfer/comm/tcp_handshake.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libinfer/util/crypto.h"
#include "libinfer/util/logging.h"

namespace infer::comm {
namespace {

absl::StatusOr<Tag> MakeTag(std::string_view secret, std::string_view role,
                            const HelloMessage& hello, const Nonce& server_nonce) {
  auto mac = crypto::HmacSha256(secret, HandshakeTranscript(role, hello, server_nonce));
  if (!mac.ok()) return mac.status();
  Tag tag;
  std::memcpy(tag.data(), mac->data(), tag.size());
  return tag;
}

absl::StatusOr<Nonce> MakeNonce() {
  auto bytes = crypto::RandomBytes(kNonceBytes);
  if (!bytes.ok()) return bytes.status();
  Nonce n;
  std::memcpy(n.data(), bytes->data(), n.size());
  return n;
}

std::string_view View(const Tag& t) { return {reinterpret_cast<const char*>(t.data()), t.size()}; }

absl::Status Prefixed(const std::string& peer, const char* stage, const absl::Status& s) {
  return absl::Status(s.code(),
                      absl::StrCat(peer, " ", s.message(), " during the handshake (", stage, ")"));
}

// One connection being authenticated by the accepting side.
struct Pending {
  enum class State { kHello, kProof } state = State::kHello;
  Fd fd;
  std::string address;
  Clock::time_point deadline;
  std::string in;   // bytes read, not yet consumed
  std::string out;  // bytes to write
  HelloMessage hello;
  Nonce server_nonce{};
  LinkKeys keys;
  bool done = false;    // authenticated; moves to the result
  std::string dropped;  // non-empty: why the connection is closed
};

}  // namespace

absl::StatusOr<LinkKeys> ConnectHandshake(int fd, HelloMessage hello, std::string_view secret,
                                          const std::string& peer, Clock::time_point deadline,
                                          bool encrypt) {
  auto nonce = MakeNonce();
  if (!nonce.ok()) return nonce.status();
  hello.nonce = *nonce;
  auto s = WriteAll(fd, EncodeFrame(FrameType::kHello, 0, 0, EncodeHello(hello)), deadline);
  if (!s.ok()) return Prefixed(peer, "Hello", s);
  auto frame = ReadFrame(fd, kMaxHandshakeFrameBytes, deadline);
  if (!frame.ok()) {
    if (absl::IsUnavailable(frame.status())) {
      return absl::UnavailableError(
          absl::StrCat(peer,
                       " closed the connection after our Hello (a rank or world size it "
                       "does not expect, or a rank that already joined?)"));
    }
    return Prefixed(peer, "Challenge", frame.status());
  }
  if (frame->first.type != FrameType::kChallenge) {
    return absl::PermissionDeniedError(absl::StrCat(
        peer, " answered with a ", FrameTypeName(frame->first.type), " frame, not a Challenge"));
  }
  auto challenge = DecodeChallenge(frame->second);
  if (!challenge.ok()) return Prefixed(peer, "Challenge", challenge.status());
  if (challenge->rank != hello.target_rank || challenge->world_size != hello.world_size) {
    return absl::PermissionDeniedError(absl::StrCat(peer, " claims rank ", challenge->rank, " of ",
                                                    challenge->world_size, ", expected rank ",
                                                    hello.target_rank, " of ", hello.world_size));
  }
  auto server_tag = MakeTag(secret, "server", hello, challenge->nonce);
  if (!server_tag.ok()) return server_tag.status();
  if (!crypto::ConstantTimeEquals(View(*server_tag), View(challenge->tag))) {
    return absl::PermissionDeniedError(
        absl::StrCat(peer, " failed authentication: its HMAC tag is wrong (a different secret?)"));
  }
  auto client_tag = MakeTag(secret, "client", hello, challenge->nonce);
  if (!client_tag.ok()) return client_tag.status();
  s = WriteAll(fd, EncodeFrame(FrameType::kProof, 0, 0, EncodeProof({*client_tag})), deadline);
  if (!s.ok()) return Prefixed(peer, "Proof", s);
  frame = ReadFrame(fd, kMaxHandshakeFrameBytes, deadline);
  if (!frame.ok()) {
    if (absl::IsUnavailable(frame.status())) {
      return absl::PermissionDeniedError(
          absl::StrCat(peer, " refused our proof (a different secret?)"));
    }
    return Prefixed(peer, "Welcome", frame.status());
  }
  if (frame->first.type != FrameType::kWelcome || !frame->second.empty()) {
    return absl::PermissionDeniedError(
        absl::StrCat(peer, " sent a ", FrameTypeName(frame->first.type), " frame, not Welcome"));
  }
  return DeriveLinkKeys(secret, hello, challenge->nonce, /*connecting=*/true, encrypt);
}

namespace {

// Consumes whole frames from `p.in` and advances the handshake; sets p.dropped or p.done.
void Advance(Pending& p, const AcceptSpec& spec, const std::map<int, JoinedPeer>& joined) {
  while (p.dropped.empty() && !p.done && p.in.size() >= kFrameHeaderBytes) {
    auto header = ParseFrameHeader(p.in, kMaxHandshakeFrameBytes);
    if (!header.ok()) {
      p.dropped = std::string(header.status().message());
      return;
    }
    if (p.in.size() < kFrameHeaderBytes + header->length) return;  // wait for the payload
    const std::string payload = p.in.substr(kFrameHeaderBytes, header->length);
    p.in.erase(0, kFrameHeaderBytes + header->length);
    if (p.state == Pending::State::kHello) {
      if (header->type != FrameType::kHello) {
        p.dropped = absl::StrCat("sent ", FrameTypeName(header->type), " instead of Hello");
        return;
      }
      auto hello = DecodeHello(payload);
      if (!hello.ok()) {
        p.dropped = std::string(hello.status().message());
        return;
      }
      if (hello->world_size != spec.world_size) {
        p.dropped = absl::StrCat("claims world size ", hello->world_size, ", this world has ",
                                 spec.world_size);
        return;
      }
      if (hello->target_rank != spec.rank) {
        p.dropped = absl::StrCat("wants rank ", hello->target_rank, ", this is rank ", spec.rank);
        return;
      }
      if (std::find(spec.expected_ranks.begin(), spec.expected_ranks.end(), hello->rank) ==
          spec.expected_ranks.end()) {
        p.dropped = absl::StrCat("claims rank ", hello->rank, ", which is not expected here");
        return;
      }
      if (joined.count(hello->rank) != 0) {
        p.dropped = absl::StrCat("claims rank ", hello->rank, ", which already joined");
        return;
      }
      auto nonce = MakeNonce();
      auto tag = nonce.ok() ? MakeTag(spec.secret, "server", *hello, *nonce) : nonce.status();
      if (!tag.ok()) {
        p.dropped = std::string(tag.status().message());
        return;
      }
      p.hello = *hello;
      p.server_nonce = *nonce;
      p.out += EncodeFrame(FrameType::kChallenge, 0, 0,
                           EncodeChallenge({spec.rank, spec.world_size, p.server_nonce, *tag}));
      p.state = Pending::State::kProof;
    } else {
      if (header->type != FrameType::kProof) {
        p.dropped = absl::StrCat("sent ", FrameTypeName(header->type), " instead of Proof");
        return;
      }
      auto proof = DecodeProof(payload);
      if (!proof.ok()) {
        p.dropped = std::string(proof.status().message());
        return;
      }
      auto want = MakeTag(spec.secret, "client", p.hello, p.server_nonce);
      if (!want.ok()) {
        p.dropped = std::string(want.status().message());
        return;
      }
      if (!crypto::ConstantTimeEquals(View(*want), View(proof->tag))) {
        p.dropped = absl::StrCat("claims rank ", p.hello.rank,
                                 " but its HMAC tag is wrong (a different secret?)");
        return;
      }
      if (joined.count(p.hello.rank) != 0) {
        p.dropped = absl::StrCat("claims rank ", p.hello.rank, ", which already joined");
        return;
      }
      if (!p.in.empty()) {
        p.dropped = "sent bytes after its Proof";
        return;
      }
      auto keys =
          DeriveLinkKeys(spec.secret, p.hello, p.server_nonce, /*connecting=*/false, spec.encrypt);
      if (!keys.ok()) {
        p.dropped = std::string(keys.status().message());
        return;
      }
      p.keys = *keys;
      p.out += EncodeFrame(FrameType::kWelcome, 0, 0, "");
      p.done = true;
    }
  }
}

// Reads what is there (never more than a handshake can need) into p.in.
void ReadSome(Pending& p) {
  char buf[4096];
  while (p.dropped.empty()) {
    const ssize_t n = recv(p.fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      p.in.append(buf, static_cast<size_t>(n));
      if (p.in.size() > 2 * (kFrameHeaderBytes + kMaxHandshakeFrameBytes)) {
        p.dropped = "sent more than a handshake";
      }
      continue;
    }
    if (n == 0) {
      p.dropped = "closed the connection during the handshake";
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      p.dropped = absl::StrCat("connection error: ", std::strerror(errno));
    }
    return;
  }
}

void WriteSome(Pending& p) {
  while (!p.out.empty() && p.dropped.empty()) {
    const ssize_t n = send(p.fd.get(), p.out.data(), p.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      p.out.erase(0, static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    } else if (!(n < 0 && errno == EINTR)) {
      p.dropped = "closed the connection during the handshake";
    }
  }
}

}  // namespace

absl::StatusOr<std::vector<JoinedPeer>> AcceptPeers(int listen_fd, const AcceptSpec& spec,
                                                    Clock::time_point deadline) {
  std::map<int, JoinedPeer> joined;
  std::vector<std::unique_ptr<Pending>> pending;
  std::vector<pollfd> fds;
  while (joined.size() < spec.expected_ranks.size()) {
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      std::vector<int> missing;
      for (int r : spec.expected_ranks) {
        if (joined.count(r) == 0) missing.push_back(r);
      }
      return absl::DeadlineExceededError(absl::StrCat(
          "rank ", spec.rank, ": rank(s) ", absl::StrJoin(missing, ", "), " did not join in time (",
          joined.size(), " of ", spec.expected_ranks.size(), " joined)"));
    }
    Clock::time_point wake = deadline;
    fds.clear();
    fds.push_back({listen_fd, POLLIN, 0});
    for (const auto& p : pending) {
      wake = std::min(wake, p->deadline);
      fds.push_back({p->fd.get(), static_cast<short>(POLLIN | (p->out.empty() ? 0 : POLLOUT)), 0});
    }
    const int rc = poll(fds.data(), fds.size(), PollMillis(wake));
    if (rc < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    for (size_t i = 0; i < pending.size(); ++i) {
      Pending& p = *pending[i];
      const short revents = fds[i + 1].revents;
      if (revents & (POLLIN | POLLHUP | POLLERR)) ReadSome(p);
      Advance(p, spec, joined);
      WriteSome(p);
      if (p.done && p.dropped.empty()) {
        // The Welcome is a few bytes into an empty socket buffer; finish it if it did not go out.
        const absl::Status s = WriteAll(p.fd.get(), p.out, std::min(p.deadline, deadline));
        if (!s.ok()) {
          p.dropped = std::string(s.message());
        } else {
          JoinedPeer peer{p.hello, std::move(p.fd), p.address, p.keys};
          if (spec.on_join) spec.on_join(peer.hello.rank, peer.address);
          joined.emplace(peer.hello.rank, std::move(peer));
          continue;
        }
      }
      if (p.dropped.empty() && Clock::now() >= p.deadline) {
        p.dropped = absl::StrCat("sent no complete handshake within ",
                                 spec.handshake_timeout.count(), " ms");
      }
    }
    // Retire finished and dropped connections.
    std::erase_if(pending, [&](const std::unique_ptr<Pending>& p) {
      if (!p->dropped.empty()) {
        INFER_LOG(kWarning, "comm: rank %d dropped a connection from %s: %s", spec.rank, p->address,
                  p->dropped);
        return true;
      }
      return p->done;
    });
    if (fds[0].revents & POLLIN) {
      while (true) {
        Fd fd(accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!fd.valid()) break;
        if (!PrepareSocket(fd.get()).ok()) continue;
        auto p = std::make_unique<Pending>();
        p->address = RemoteAddress(fd.get());
        p->fd = std::move(fd);
        p->deadline = Clock::now() + spec.handshake_timeout;
        pending.push_back(std::move(p));
      }
    }
  }
  std::vector<JoinedPeer> out;
  out.reserve(spec.expected_ranks.size());
  for (int r : spec.expected_ranks) out.push_back(std::move(joined.at(r)));
  return out;
}

}  // namespace infer::comm
