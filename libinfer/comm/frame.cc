#include "libinfer/comm/frame.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace infer::comm {
namespace {

void PutU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>(v >> 8));
}
void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
template <size_t N>
void PutBytes(std::string& out, const std::array<uint8_t, N>& a) {
  out.append(reinterpret_cast<const char*>(a.data()), N);
}

uint64_t LoadLe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

// A bounds-checked cursor over a payload; every read names the field it was reading.
class Reader {
 public:
  Reader(std::string_view data, std::string_view message) : data_(data), message_(message) {}

  absl::Status U16(std::string_view field, uint16_t* out) {
    const char* p = nullptr;
    auto s = Take(field, 2, &p);
    if (s.ok()) *out = static_cast<uint16_t>(LoadLe(p, 2));
    return s;
  }
  absl::Status I32(std::string_view field, int32_t* out) {
    const char* p = nullptr;
    auto s = Take(field, 4, &p);
    if (s.ok()) *out = static_cast<int32_t>(static_cast<uint32_t>(LoadLe(p, 4)));
    return s;
  }
  template <size_t N>
  absl::Status Bytes(std::string_view field, std::array<uint8_t, N>* out) {
    const char* p = nullptr;
    auto s = Take(field, N, &p);
    if (s.ok()) std::memcpy(out->data(), p, N);
    return s;
  }
  // A u8 length and that many printable ASCII bytes.
  absl::Status Host(std::string_view field, std::string* out) {
    const char* p = nullptr;
    auto s = Take(field, 1, &p);
    if (!s.ok()) return s;
    const size_t n = static_cast<uint8_t>(*p);
    s = Take(field, n, &p);
    if (!s.ok()) return s;
    for (size_t i = 0; i < n; ++i) {
      if (p[i] <= ' ' || p[i] > '~') return Error(field, "holds a non-printable byte");
    }
    out->assign(p, n);
    return absl::OkStatus();
  }
  absl::Status Done() {
    if (pos_ != data_.size()) {
      return Error("length", absl::StrCat(data_.size() - pos_, " trailing bytes"));
    }
    return absl::OkStatus();
  }
  absl::Status Error(std::string_view field, std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(std::string(message_), " field '",
                                                   std::string(field), "' ", std::string(what)));
  }

 private:
  absl::Status Take(std::string_view field, size_t n, const char** p) {
    if (data_.size() - pos_ < n) return Error(field, "is truncated");
    *p = data_.data() + pos_;
    pos_ += n;
    return absl::OkStatus();
  }

  std::string_view data_;
  std::string_view message_;
  size_t pos_ = 0;
};

#define INFER_COMM_READ(expr)                  \
  do {                                         \
    ::absl::Status read_status = expr;         \
    if (!read_status.ok()) return read_status; \
  } while (0)

bool KnownType(uint8_t t) {
  return (t >= static_cast<uint8_t>(FrameType::kHello) &&
          t <= static_cast<uint8_t>(FrameType::kLeave)) ||
         (t >= static_cast<uint8_t>(FrameType::kAllReduce) &&
          t <= static_cast<uint8_t>(FrameType::kBarrier));
}

absl::Status CheckWorld(const Reader& r, int32_t world_size) {
  if (world_size < 1 || world_size > kMaxWorldSize) {
    return r.Error("world_size", absl::StrCat(world_size, " is outside [1, ", kMaxWorldSize, "]"));
  }
  return absl::OkStatus();
}

absl::Status CheckRank(const Reader& r, std::string_view field, int32_t rank, int32_t lo,
                       int32_t world_size) {
  if (rank < lo || rank >= world_size) {
    return r.Error(field, absl::StrCat(rank, " is outside [", lo, ", ", world_size, ")"));
  }
  return absl::OkStatus();
}

void PutHost(std::string& out, std::string_view host) {
  const size_t n = std::min(host.size(), kMaxHostBytes);
  out.push_back(static_cast<char>(n));
  out.append(host.data(), n);
}

}  // namespace

const char* FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "Hello";
    case FrameType::kChallenge:
      return "Challenge";
    case FrameType::kProof:
      return "Proof";
    case FrameType::kWelcome:
      return "Welcome";
    case FrameType::kPeerTable:
      return "PeerTable";
    case FrameType::kLeave:
      return "Leave";
    case FrameType::kAllReduce:
      return "AllReduceSum";
    case FrameType::kAllGather:
      return "AllGather";
    case FrameType::kBroadcast:
      return "Broadcast";
    case FrameType::kPointToPoint:
      return "Send/Recv";
    case FrameType::kBarrier:
      return "Barrier";
  }
  return "unknown";
}

std::array<uint8_t, kFrameHeaderBytes> EncodeFrameHeader(const FrameHeader& header) {
  std::string s;
  s.reserve(kFrameHeaderBytes);
  PutU32(s, kFrameMagic);
  PutU16(s, kProtocolVersion);
  s.push_back(static_cast<char>(header.type));
  s.push_back(0);
  PutU32(s, header.group);
  PutU32(s, header.sequence);
  PutU64(s, header.length);
  std::array<uint8_t, kFrameHeaderBytes> out;
  std::memcpy(out.data(), s.data(), kFrameHeaderBytes);
  return out;
}

absl::StatusOr<FrameHeader> ParseFrameHeader(std::string_view bytes, uint64_t max_payload_bytes) {
  if (bytes.size() < kFrameHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat("frame header is truncated: ", bytes.size(),
                                                   " of ", kFrameHeaderBytes, " bytes"));
  }
  const char* p = bytes.data();
  const uint32_t magic = static_cast<uint32_t>(LoadLe(p, 4));
  if (magic != kFrameMagic) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "frame header field 'magic' is 0x%08x, expected 0x%08x", magic, kFrameMagic));
  }
  const uint16_t version = static_cast<uint16_t>(LoadLe(p + 4, 2));
  if (version != kProtocolVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame header field 'version' is ", version, ", expected ", kProtocolVersion));
  }
  const uint8_t type = static_cast<uint8_t>(p[6]);
  if (!KnownType(type)) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame header field 'type' is ", type, ", not a known frame type"));
  }
  if (p[7] != 0) {
    return absl::InvalidArgumentError(absl::StrCat("frame header field 'reserved' is ",
                                                   static_cast<uint8_t>(p[7]), ", expected 0"));
  }
  FrameHeader h;
  h.type = static_cast<FrameType>(type);
  h.group = static_cast<uint32_t>(LoadLe(p + 8, 4));
  h.sequence = static_cast<uint32_t>(LoadLe(p + 12, 4));
  h.length = LoadLe(p + 16, 8);
  if (h.length > max_payload_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("frame header field 'length' is ", h.length,
                                                   " bytes, more than the limit of ",
                                                   max_payload_bytes));
  }
  return h;
}

std::string EncodeFrame(FrameType type, uint32_t group, uint32_t sequence,
                        std::string_view payload) {
  const auto header = EncodeFrameHeader({type, group, sequence, payload.size()});
  std::string out(reinterpret_cast<const char*>(header.data()), header.size());
  out.append(payload);
  return out;
}

std::string EncodeHello(const HelloMessage& m) {
  std::string out;
  PutU32(out, static_cast<uint32_t>(m.rank));
  PutU32(out, static_cast<uint32_t>(m.world_size));
  PutU32(out, static_cast<uint32_t>(m.target_rank));
  PutU16(out, m.listen_port);
  PutHost(out, m.host);
  PutBytes(out, m.nonce);
  return out;
}

std::string EncodeChallenge(const ChallengeMessage& m) {
  std::string out;
  PutU32(out, static_cast<uint32_t>(m.rank));
  PutU32(out, static_cast<uint32_t>(m.world_size));
  PutBytes(out, m.nonce);
  PutBytes(out, m.tag);
  return out;
}

std::string EncodeProof(const ProofMessage& m) {
  std::string out;
  PutBytes(out, m.tag);
  return out;
}

std::string EncodePeerTable(const PeerTableMessage& m) {
  std::string out;
  PutU32(out, static_cast<uint32_t>(m.peers.size()));
  for (const PeerAddress& p : m.peers) {
    PutHost(out, p.host);
    PutU16(out, p.port);
  }
  return out;
}

absl::StatusOr<HelloMessage> DecodeHello(std::string_view payload) {
  Reader r(payload, "Hello");
  HelloMessage m;
  INFER_COMM_READ(r.I32("rank", &m.rank));
  INFER_COMM_READ(r.I32("world_size", &m.world_size));
  INFER_COMM_READ(r.I32("target_rank", &m.target_rank));
  INFER_COMM_READ(r.U16("listen_port", &m.listen_port));
  INFER_COMM_READ(r.Host("host", &m.host));
  INFER_COMM_READ(r.Bytes("nonce", &m.nonce));
  INFER_COMM_READ(r.Done());
  INFER_COMM_READ(CheckWorld(r, m.world_size));
  INFER_COMM_READ(CheckRank(r, "rank", m.rank, 1, m.world_size));
  INFER_COMM_READ(CheckRank(r, "target_rank", m.target_rank, 0, m.world_size));
  if (m.target_rank == m.rank) return r.Error("target_rank", "equals rank");
  return m;
}

absl::StatusOr<ChallengeMessage> DecodeChallenge(std::string_view payload) {
  Reader r(payload, "Challenge");
  ChallengeMessage m;
  INFER_COMM_READ(r.I32("rank", &m.rank));
  INFER_COMM_READ(r.I32("world_size", &m.world_size));
  INFER_COMM_READ(r.Bytes("nonce", &m.nonce));
  INFER_COMM_READ(r.Bytes("tag", &m.tag));
  INFER_COMM_READ(r.Done());
  INFER_COMM_READ(CheckWorld(r, m.world_size));
  INFER_COMM_READ(CheckRank(r, "rank", m.rank, 0, m.world_size));
  return m;
}

absl::StatusOr<ProofMessage> DecodeProof(std::string_view payload) {
  Reader r(payload, "Proof");
  ProofMessage m;
  INFER_COMM_READ(r.Bytes("tag", &m.tag));
  INFER_COMM_READ(r.Done());
  return m;
}

absl::StatusOr<PeerTableMessage> DecodePeerTable(std::string_view payload) {
  Reader r(payload, "PeerTable");
  int32_t count = 0;
  INFER_COMM_READ(r.I32("count", &count));
  if (count < 1 || count > kMaxWorldSize) {
    return r.Error("count", absl::StrCat(count, " is outside [1, ", kMaxWorldSize, "]"));
  }
  // Each entry takes at least 3 bytes: refuse a count the payload cannot hold before reserving.
  if (static_cast<size_t>(count) * 3 > payload.size()) return r.Error("peers", "is truncated");
  PeerTableMessage m;
  m.peers.resize(static_cast<size_t>(count));
  for (PeerAddress& p : m.peers) {
    INFER_COMM_READ(r.Host("host", &p.host));
    INFER_COMM_READ(r.U16("port", &p.port));
  }
  INFER_COMM_READ(r.Done());
  return m;
}

std::string HandshakeTranscript(std::string_view role, const HelloMessage& hello,
                                const Nonce& server_nonce) {
  std::string out = absl::StrCat("infer-comm/", kProtocolVersion, " ", std::string(role), "\n");
  PutU32(out, static_cast<uint32_t>(hello.rank));
  PutU32(out, static_cast<uint32_t>(hello.target_rank));
  PutU32(out, static_cast<uint32_t>(hello.world_size));
  PutU16(out, hello.listen_port);
  PutHost(out, hello.host);
  PutBytes(out, hello.nonce);
  PutBytes(out, server_nonce);
  return out;
}

}  // namespace infer::comm
