#include "libinfer/comm/tcp_communicator.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libinfer/comm/tcp_handshake.h"
#include "libinfer/comm/tcp_socket.h"
#include "libinfer/comm/tcp_transport.h"
#include "libinfer/util/fp16.h"
#include "libinfer/util/status_macros.h"

namespace infer::comm {
namespace {

constexpr size_t kMinSecretBytes = 16;

absl::Status ValidateOptions(const TcpOptions& o) {
  if (o.world_size < 1 || o.world_size > kMaxWorldSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("world_size ", o.world_size, " is outside [1, ", kMaxWorldSize, "]"));
  }
  if (o.rank < 0 || o.rank >= o.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", o.rank, " is outside [0, ", o.world_size, ")"));
  }
  if (o.secret.size() < kMinSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the communicator secret must be at least ",
                                                   kMinSecretBytes, " bytes (got ", o.secret.size(),
                                                   ")"));
  }
  if (o.chunk_bytes == 0 || o.chunk_bytes > o.max_frame_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk_bytes ", o.chunk_bytes,
                     " must be in [1, max_frame_bytes = ", o.max_frame_bytes, "]"));
  }
  if (o.advertised_host.size() > kMaxHostBytes) {
    return absl::InvalidArgumentError("advertised_host is longer than 255 bytes");
  }
  return absl::OkStatus();
}

// FNV-1a over the member list: the same members give the same id on every rank.
uint32_t GroupId(const std::vector<int>& world_ranks) {
  uint32_t h = 2166136261u;
  for (int r : world_ranks) {
    for (int i = 0; i < 4; ++i) {
      h ^= static_cast<uint32_t>(r >> (8 * i)) & 0xffu;
      h *= 16777619u;
    }
  }
  return h;
}

// a[i] += b[i], in F32 (BF16 widened, summed, rounded once).
void AddInto(void* acc, const void* b, size_t count, ReduceType type) {
  if (type == ReduceType::kF32) {
    float* x = static_cast<float*>(acc);
    const float* y = static_cast<const float*>(b);
    for (size_t i = 0; i < count; ++i) x[i] += y[i];
  } else {
    uint16_t* x = static_cast<uint16_t*>(acc);
    const uint16_t* y = static_cast<const uint16_t*>(b);
    for (size_t i = 0; i < count; ++i) x[i] = Fp32ToBf16(Bf16ToFp32(x[i]) + Bf16ToFp32(y[i]));
  }
}

class TcpCommunicator final : public Communicator {
 public:
  TcpCommunicator(std::shared_ptr<Mesh> mesh, std::vector<int> world_ranks, int rank,
                  size_t ring_threshold_bytes, size_t chunk_bytes)
      : mesh_(std::move(mesh)),
        world_ranks_(std::move(world_ranks)),
        rank_(rank),
        group_(GroupId(world_ranks_)),
        ring_threshold_bytes_(ring_threshold_bytes),
        chunk_bytes_(chunk_bytes),
        p2p_sent_(world_ranks_.size(), 0),
        p2p_received_(world_ranks_.size(), 0) {}

  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(world_ranks_.size()); }
  absl::Status health() const override { return mesh_->health(); }
  void Interrupt() override { mesh_->Interrupt(); }
  absl::Status Leave(Timeout timeout) override { return mesh_->Leave(Clock::now() + timeout); }

  absl::Status AllReduceSum(void* data, size_t count, ReduceType type, Timeout timeout) override;
  absl::Status AllGather(const void* send, size_t bytes, void* recv, Timeout timeout) override;
  absl::Status Broadcast(void* data, size_t bytes, int root, Timeout timeout) override;
  absl::Status Send(const void* data, size_t bytes, int peer, Timeout timeout) override;
  absl::Status Recv(void* data, size_t bytes, int peer, Timeout timeout) override;
  absl::Status Barrier(Timeout timeout) override;
  absl::StatusOr<std::unique_ptr<Communicator>> Subgroup(std::span<const int> ranks) override;

 private:
  int World(int r) const { return world_ranks_[r]; }
  FrameHeader Header(FrameType type) const { return {type, group_, sequence_, 0}; }

  // Queues `bytes` to / from group rank `peer` as frames of at most chunk_bytes_.
  void SendChunked(Transfer& t, int peer, FrameHeader h, const void* data, size_t bytes) const;
  void RecvChunked(Transfer& t, int peer, FrameHeader h, void* data, size_t bytes) const;

  absl::Status ExchangeAllReduce(uint8_t* data, size_t count, ReduceType type, Timeout timeout);
  absl::Status RingAllReduce(uint8_t* data, size_t count, ReduceType type, Timeout timeout);

  std::shared_ptr<Mesh> mesh_;
  std::vector<int> world_ranks_;  // group rank -> world rank
  int rank_;
  uint32_t group_;
  uint32_t sequence_ = 0;  // collective operations so far (the current one while it runs)
  size_t ring_threshold_bytes_;
  size_t chunk_bytes_;
  std::vector<uint32_t> p2p_sent_;      // per group rank
  std::vector<uint32_t> p2p_received_;  // per group rank
  std::vector<uint8_t> scratch_;
};

void TcpCommunicator::SendChunked(Transfer& t, int peer, FrameHeader h, const void* data,
                                  size_t bytes) const {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  for (size_t off = 0; off < bytes; off += chunk_bytes_) {
    t.Send(World(peer), h, p + off, std::min(chunk_bytes_, bytes - off));
  }
}

void TcpCommunicator::RecvChunked(Transfer& t, int peer, FrameHeader h, void* data,
                                  size_t bytes) const {
  uint8_t* p = static_cast<uint8_t*>(data);
  for (size_t off = 0; off < bytes; off += chunk_bytes_) {
    h.length = std::min(chunk_bytes_, bytes - off);
    t.Recv(World(peer), h, p + off);
  }
}

absl::Status TcpCommunicator::AllReduceSum(void* data, size_t count, ReduceType type,
                                           Timeout timeout) {
  INFER_RETURN_IF_ERROR(mesh_->health());
  const size_t elem = type == ReduceType::kF32 ? 4 : 2;
  if (count > std::numeric_limits<size_t>::max() / elem / 2) {
    return absl::InvalidArgumentError(absl::StrCat("AllReduceSum of ", count, " elements"));
  }
  ++sequence_;
  if (size() == 1 || count == 0) return absl::OkStatus();
  uint8_t* bytes = static_cast<uint8_t*>(data);
  // The choice depends only on sizes and options, so every rank makes the same one.
  if (count * elem <= ring_threshold_bytes_ || count < static_cast<size_t>(size())) {
    return ExchangeAllReduce(bytes, count, type, timeout);
  }
  return RingAllReduce(bytes, count, type, timeout);
}

// Every rank sends its whole buffer to every other and sums all of them in rank order: one round
// trip, and the same additions in the same order everywhere.
absl::Status TcpCommunicator::ExchangeAllReduce(uint8_t* data, size_t count, ReduceType type,
                                                Timeout timeout) {
  const size_t elem = type == ReduceType::kF32 ? 4 : 2;
  const size_t bytes = count * elem;
  const int n = size();
  // The F32 accumulator follows the slots, aligned for floats.
  const size_t acc_offset = (static_cast<size_t>(n) * bytes + 15) / 16 * 16;
  scratch_.resize(acc_offset + count * sizeof(float));
  // Slot r of scratch_ holds rank r's contribution (this rank's own included, copied).
  std::memcpy(scratch_.data() + static_cast<size_t>(rank_) * bytes, data, bytes);
  Transfer t(*mesh_, "AllReduceSum", timeout);
  const FrameHeader h = Header(FrameType::kAllReduce);
  for (int q = 0; q < n; ++q) {
    if (q == rank_) continue;
    SendChunked(t, q, h, data, bytes);
    RecvChunked(t, q, h, scratch_.data() + static_cast<size_t>(q) * bytes, bytes);
  }
  INFER_RETURN_IF_ERROR(t.Run());
  float* acc = reinterpret_cast<float*>(scratch_.data() + acc_offset);
  for (int r = 0; r < n; ++r) {
    const uint8_t* src = scratch_.data() + static_cast<size_t>(r) * bytes;
    if (type == ReduceType::kF32) {
      const float* x = reinterpret_cast<const float*>(src);
      if (r == 0) {
        std::memcpy(acc, x, bytes);
      } else {
        for (size_t i = 0; i < count; ++i) acc[i] += x[i];
      }
    } else {
      const uint16_t* x = reinterpret_cast<const uint16_t*>(src);
      if (r == 0) {
        for (size_t i = 0; i < count; ++i) acc[i] = Bf16ToFp32(x[i]);
      } else {
        for (size_t i = 0; i < count; ++i) acc[i] += Bf16ToFp32(x[i]);
      }
    }
  }
  if (type == ReduceType::kF32) {
    std::memcpy(data, acc, bytes);
  } else {
    uint16_t* out = reinterpret_cast<uint16_t*>(data);
    for (size_t i = 0; i < count; ++i) out[i] = Fp32ToBf16(acc[i]);
  }
  return absl::OkStatus();
}

// The ring: the buffer is cut into size() segments; in step t (of 2 * (size() - 1)) rank r sends
// segment (r - t) to its right neighbour and receives segment (r - t - 1) from its left one,
// adding it in during the first size() - 1 steps (reduce-scatter) and keeping it in the rest
// (all-gather). Each segment is cut into chunks, and a received chunk is forwarded as soon as it
// has been added, so the steps overlap. Each segment is summed once, by the rank that completes
// it, and then copied: every rank ends with the same bits.
absl::Status TcpCommunicator::RingAllReduce(uint8_t* data, size_t count, ReduceType type,
                                            Timeout timeout) {
  const size_t elem = type == ReduceType::kF32 ? 4 : 2;
  const int n = size();
  const int steps = 2 * (n - 1);
  const size_t chunk_elems = std::max<size_t>(1, chunk_bytes_ / elem);
  auto seg_begin = [&](int s) { return count * static_cast<size_t>(s) / static_cast<size_t>(n); };
  auto mod = [n](int x) { return ((x % n) + n) % n; };
  const int left = mod(rank_ - 1);
  const int right = mod(rank_ + 1);
  scratch_.resize(chunk_elems * elem);
  uint8_t* temp = scratch_.data();
  Transfer t(*mesh_, "AllReduceSum", timeout);
  const FrameHeader h = Header(FrameType::kAllReduce);
  // A receive's callback forwards what it completed: step t + 1 sends what step t received.
  for (int step = 0; step < steps; ++step) {
    const int seg = mod(rank_ - step - 1);
    for (size_t b = seg_begin(seg), e = seg_begin(seg + 1); b < e; b += chunk_elems) {
      const size_t len = std::min(chunk_elems, e - b) * elem;
      uint8_t* region = data + b * elem;
      FrameHeader expect = h;
      expect.length = len;
      const bool reduce = step < n - 1;
      const bool forward = step + 1 < steps;
      t.Recv(World(left), expect, reduce ? temp : region,
             [&t, this, h, region, temp, len, elem, type, reduce, forward, right] {
               if (reduce) AddInto(region, temp, len / elem, type);
               if (forward) t.Send(World(right), h, region, len);
             });
    }
  }
  const int first = mod(rank_);
  for (size_t b = seg_begin(first), e = seg_begin(first + 1); b < e; b += chunk_elems) {
    t.Send(World(right), h, data + b * elem, std::min(chunk_elems, e - b) * elem);
  }
  return t.Run();
}

absl::Status TcpCommunicator::AllGather(const void* send, size_t bytes, void* recv,
                                        Timeout timeout) {
  INFER_RETURN_IF_ERROR(mesh_->health());
  ++sequence_;
  uint8_t* out = static_cast<uint8_t*>(recv);
  if (bytes > 0) std::memmove(out + static_cast<size_t>(rank_) * bytes, send, bytes);
  Transfer t(*mesh_, "AllGather", timeout);
  const FrameHeader h = Header(FrameType::kAllGather);
  for (int q = 0; q < size(); ++q) {
    if (q == rank_) continue;
    SendChunked(t, q, h, out + static_cast<size_t>(rank_) * bytes, bytes);
    RecvChunked(t, q, h, out + static_cast<size_t>(q) * bytes, bytes);
  }
  return t.Run();
}

absl::Status TcpCommunicator::Broadcast(void* data, size_t bytes, int root, Timeout timeout) {
  INFER_RETURN_IF_ERROR(mesh_->health());
  if (root < 0 || root >= size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Broadcast root ", root, " is outside [0, ", size(), ")"));
  }
  ++sequence_;
  Transfer t(*mesh_, "Broadcast", timeout);
  const FrameHeader h = Header(FrameType::kBroadcast);
  if (rank_ == root) {
    for (int q = 0; q < size(); ++q) {
      if (q != rank_) SendChunked(t, q, h, data, bytes);
    }
  } else {
    RecvChunked(t, root, h, data, bytes);
  }
  return t.Run();
}

absl::Status TcpCommunicator::Send(const void* data, size_t bytes, int peer, Timeout timeout) {
  INFER_RETURN_IF_ERROR(mesh_->health());
  if (peer < 0 || peer >= size() || peer == rank_) {
    return absl::InvalidArgumentError(
        absl::StrCat("Send to rank ", peer, " from rank ", rank_, " of ", size()));
  }
  Transfer t(*mesh_, "Send", timeout);
  SendChunked(t, peer, {FrameType::kPointToPoint, group_, p2p_sent_[peer]++, 0}, data, bytes);
  return t.Run();
}

absl::Status TcpCommunicator::Recv(void* data, size_t bytes, int peer, Timeout timeout) {
  INFER_RETURN_IF_ERROR(mesh_->health());
  if (peer < 0 || peer >= size() || peer == rank_) {
    return absl::InvalidArgumentError(
        absl::StrCat("Recv from rank ", peer, " at rank ", rank_, " of ", size()));
  }
  Transfer t(*mesh_, "Recv", timeout);
  RecvChunked(t, peer, {FrameType::kPointToPoint, group_, p2p_received_[peer]++, 0}, data, bytes);
  return t.Run();
}

absl::Status TcpCommunicator::Barrier(Timeout timeout) {
  INFER_RETURN_IF_ERROR(mesh_->health());
  ++sequence_;
  Transfer t(*mesh_, "Barrier", timeout);
  const FrameHeader h = Header(FrameType::kBarrier);
  for (int q = 0; q < size(); ++q) {
    if (q == rank_) continue;
    t.Send(World(q), h, nullptr, 0);
    t.Recv(World(q), h, nullptr);
  }
  return t.Run();
}

absl::StatusOr<std::unique_ptr<Communicator>> TcpCommunicator::Subgroup(
    std::span<const int> ranks) {
  std::vector<int> world;
  int me = -1;
  for (int r : ranks) {
    if (r < 0 || r >= size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Subgroup rank ", r, " is outside [0, ", size(), ")"));
    }
    if (std::find(world.begin(), world.end(), World(r)) != world.end()) {
      return absl::InvalidArgumentError(absl::StrCat("Subgroup lists rank ", r, " twice"));
    }
    if (r == rank_) me = static_cast<int>(world.size());
    world.push_back(World(r));
  }
  if (me < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Subgroup does not contain this rank (", rank_, ")"));
  }
  return std::unique_ptr<Communicator>(std::make_unique<TcpCommunicator>(
      mesh_, std::move(world), me, ring_threshold_bytes_, chunk_bytes_));
}

std::unique_ptr<Communicator> MakeCommunicator(const TcpOptions& o, std::vector<PeerLink> links) {
  auto mesh = std::make_shared<Mesh>(o.rank, std::move(links), o.max_frame_bytes, o.busy_poll);
  std::vector<int> world(static_cast<size_t>(o.world_size));
  for (int r = 0; r < o.world_size; ++r) world[r] = r;
  return std::make_unique<TcpCommunicator>(std::move(mesh), std::move(world), o.rank,
                                           o.ring_threshold_bytes, o.chunk_bytes);
}

}  // namespace

// ---- Rendezvous -------------------------------------------------------------------------------

struct TcpRendezvous::Impl {
  TcpOptions options;
  Fd listener;
  bool accepted = false;
};

TcpRendezvous::TcpRendezvous(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TcpRendezvous::~TcpRendezvous() = default;

absl::StatusOr<std::unique_ptr<TcpRendezvous>> TcpRendezvous::Listen(std::string_view host,
                                                                     uint16_t port,
                                                                     const TcpOptions& options) {
  INFER_RETURN_IF_ERROR(ValidateOptions(options));
  if (options.rank != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("TcpRendezvous::Listen is for rank 0, not rank ", options.rank));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  INFER_ASSIGN_OR_RETURN(impl->listener, ListenTcp(host, port));
  return std::unique_ptr<TcpRendezvous>(new TcpRendezvous(std::move(impl)));
}

uint16_t TcpRendezvous::port() const { return LocalPort(impl_->listener.get()); }

absl::StatusOr<std::unique_ptr<Communicator>> TcpRendezvous::Accept(Timeout timeout) {
  if (impl_->accepted) return absl::FailedPreconditionError("TcpRendezvous::Accept ran already");
  impl_->accepted = true;
  const TcpOptions& o = impl_->options;
  const Clock::time_point deadline = Clock::now() + timeout;
  AcceptSpec spec;
  spec.rank = 0;
  spec.world_size = o.world_size;
  for (int r = 1; r < o.world_size; ++r) spec.expected_ranks.push_back(r);
  spec.secret = o.secret;
  spec.encrypt = o.encrypt;
  spec.handshake_timeout = o.handshake_timeout;
  spec.on_join = o.on_join;
  INFER_ASSIGN_OR_RETURN(std::vector<JoinedPeer> joined,
                         AcceptPeers(impl_->listener.get(), spec, deadline));
  impl_->listener.reset();
  PeerTableMessage table;
  table.peers.resize(static_cast<size_t>(o.world_size));
  for (const JoinedPeer& p : joined) {
    PeerAddress& a = table.peers[p.hello.rank];
    a.host = p.hello.host.empty() ? RemoteHost(p.fd.get()) : p.hello.host;
    a.port = p.hello.listen_port;
  }
  const std::string table_payload = EncodePeerTable(table);
  std::vector<PeerLink> links(static_cast<size_t>(o.world_size));
  for (JoinedPeer& p : joined) {
    // The table is the first sealed frame of each link.
    links[p.hello.rank].SetKeys(p.keys, o.encrypt);
    INFER_ASSIGN_OR_RETURN(std::string frame, SealFrame(*links[p.hello.rank].seal_out,
                                                        FrameType::kPeerTable, table_payload));
    const absl::Status s = WriteAll(p.fd.get(), frame, deadline);
    if (!s.ok()) {
      return absl::UnavailableError(absl::StrCat("rank ", p.hello.rank, " (", p.address,
                                                 ") left before the peer table: ", s.message()));
    }
    links[p.hello.rank].fd = std::move(p.fd);
    links[p.hello.rank].address = p.address;
  }
  return MakeCommunicator(o, std::move(links));
}

absl::StatusOr<std::unique_ptr<Communicator>> JoinTcp(std::string_view leader_address,
                                                      const TcpOptions& options) {
  INFER_RETURN_IF_ERROR(ValidateOptions(options));
  const TcpOptions& o = options;
  if (o.rank == 0) {
    return absl::InvalidArgumentError("rank 0 is the leader: use TcpRendezvous, not JoinTcp");
  }
  INFER_ASSIGN_OR_RETURN(auto leader, SplitHostPort(leader_address));
  const Clock::time_point deadline = Clock::now() + o.join_timeout;
  std::vector<PeerLink> links(static_cast<size_t>(o.world_size));

  INFER_ASSIGN_OR_RETURN(Fd leader_fd,
                         ConnectTcp(leader.first, leader.second, deadline, o.resolver));
  const std::string leader_name = absl::StrCat("rank 0 (", RemoteAddress(leader_fd.get()), ")");
  // The mesh listener, on the interface that reaches the leader unless told otherwise.
  const std::string listen_host =
      o.listen_host.empty() ? LocalHost(leader_fd.get()) : o.listen_host;
  INFER_ASSIGN_OR_RETURN(Fd listener, ListenTcp(listen_host, 0));
  HelloMessage hello;
  hello.rank = o.rank;
  hello.world_size = o.world_size;
  hello.target_rank = 0;
  hello.listen_port = LocalPort(listener.get());
  hello.host = o.advertised_host;
  INFER_ASSIGN_OR_RETURN(LinkKeys leader_keys, ConnectHandshake(leader_fd.get(), hello, o.secret,
                                                                leader_name, deadline, o.encrypt));
  // Every rank has joined when the peer table comes.
  auto frame =
      ReadFrame(leader_fd.get(), kFrameHeaderBytes + kMaxWorldSize * (kMaxHostBytes + 3), deadline);
  if (!frame.ok()) {
    return absl::Status(
        frame.status().code(),
        absl::StrCat(leader_name, " sent no peer table: ", frame.status().message()));
  }
  if (frame->first.type != FrameType::kPeerTable) {
    return absl::InternalError(absl::StrCat(leader_name, " sent ", FrameTypeName(frame->first.type),
                                            " instead of the peer table"));
  }
  // The table is the link's first sealed frame: its seal follows the payload.
  links[0].SetKeys(leader_keys, o.encrypt);
  SealTag seal;
  if (absl::Status s = ReadExact(leader_fd.get(), seal.data(), seal.size(), deadline); !s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat(leader_name, " sent no seal after the peer table: ", s.message()));
  }
  std::string& payload = frame->second;
  const absl::Status opened =
      links[0].seal_in->Open(EncodeFrameHeader(frame->first),
                             {reinterpret_cast<uint8_t*>(payload.data()), payload.size()}, seal);
  if (!opened.ok()) {
    return absl::Status(opened.code(),
                        absl::StrCat(leader_name, " sent a peer table whose ", opened.message()));
  }
  INFER_ASSIGN_OR_RETURN(PeerTableMessage table, DecodePeerTable(payload));
  if (table.peers.size() != static_cast<size_t>(o.world_size)) {
    return absl::InternalError(absl::StrCat(leader_name, " sent a peer table of ",
                                            table.peers.size(), " ranks for a world of ",
                                            o.world_size));
  }
  const std::string leader_seen = RemoteAddress(leader_fd.get());
  links[0].fd = std::move(leader_fd);
  links[0].address = leader_seen;

  // Dial every lower rank but the leader; they accept from this rank once done dialing theirs.
  for (int j = 1; j < o.rank; ++j) {
    const PeerAddress& a = table.peers[j];
    INFER_ASSIGN_OR_RETURN(Fd fd, ConnectTcp(a.host, a.port, deadline, o.resolver));
    const std::string address = RemoteAddress(fd.get());
    hello.target_rank = j;
    INFER_ASSIGN_OR_RETURN(
        LinkKeys keys,
        ConnectHandshake(fd.get(), hello, o.secret, absl::StrCat("rank ", j, " (", address, ")"),
                         deadline, o.encrypt));
    links[j].SetKeys(keys, o.encrypt);
    links[j].fd = std::move(fd);
    links[j].address = address;
  }
  // Accept every higher rank.
  AcceptSpec spec;
  spec.rank = o.rank;
  spec.world_size = o.world_size;
  for (int r = o.rank + 1; r < o.world_size; ++r) spec.expected_ranks.push_back(r);
  spec.secret = o.secret;
  spec.encrypt = o.encrypt;
  spec.handshake_timeout = o.handshake_timeout;
  INFER_ASSIGN_OR_RETURN(std::vector<JoinedPeer> joined,
                         AcceptPeers(listener.get(), spec, deadline));
  for (JoinedPeer& p : joined) {
    links[p.hello.rank].fd = std::move(p.fd);
    links[p.hello.rank].address = p.address;
    links[p.hello.rank].SetKeys(p.keys, o.encrypt);
  }
  return MakeCommunicator(o, std::move(links));
}

}  // namespace infer::comm
