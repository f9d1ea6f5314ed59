// The TCP communicator's wire format: every message is one frame, a fixed 24-byte little-endian
// header followed by `length` payload bytes.
//
//   offset  size  field
//        0     4  magic            kFrameMagic ("ICMF" on the wire)
//        4     2  version          kProtocolVersion
//        6     1  type             FrameType
//        7     1  reserved         0
//        8     4  group            the communicator group (0 during the handshake)
//       12     4  sequence         the group's operation number (or the point-to-point number)
//       16     8  length           payload bytes, at most the receiver's limit
//
// The handshake messages (Hello, Challenge, Proof, PeerTable) are frame payloads with their own
// strict little-endian encodings; their decoders reject short, long or inconsistent input with
// InvalidArgument naming the field, and never read out of bounds, whatever the bytes.
#ifndef INFER_COMM_FRAME_H_
#define INFER_COMM_FRAME_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace infer::comm {

inline constexpr uint32_t kFrameMagic = 0x464d4349;  // bytes 'I' 'C' 'M' 'F'
inline constexpr uint16_t kProtocolVersion = 2;      // 2: frames after the handshake are sealed
inline constexpr size_t kFrameHeaderBytes = 24;
inline constexpr uint64_t kDefaultMaxFrameBytes = uint64_t{1} << 30;  // 1 GiB

// Handshake messages are small; a connection that announces more is dropped before reading it.
inline constexpr uint64_t kMaxHandshakeFrameBytes = 64 * 1024;
inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kTagBytes = 32;  // HMAC-SHA256
inline constexpr size_t kMaxHostBytes = 255;
inline constexpr int kMaxWorldSize = 4096;

using Nonce = std::array<uint8_t, kNonceBytes>;
using Tag = std::array<uint8_t, kTagBytes>;

// What a frame carries. Values are part of the protocol; never renumber.
enum class FrameType : uint8_t {
  kHello = 1,      // connecting side -> accepting side: who I am (HelloMessage)
  kChallenge = 2,  // accepting side's answer, proving it knows the secret (ChallengeMessage)
  kProof = 3,      // connecting side's proof (ProofMessage)
  kWelcome = 4,    // accepting side: proof accepted (empty payload)
  kPeerTable = 5,  // leader -> worker once every rank has joined (PeerTableMessage)
  kLeave = 6,      // a rank leaves the group on purpose (empty payload, sealed), then closes
  kAllReduce = 16,
  kAllGather = 17,
  kBroadcast = 18,
  kPointToPoint = 19,
  kBarrier = 20,
};

// "AllReduce", "Hello", ...; "unknown" for a value outside the enum.
const char* FrameTypeName(FrameType type);

struct FrameHeader {
  FrameType type = FrameType::kHello;
  uint32_t group = 0;
  uint32_t sequence = 0;
  uint64_t length = 0;
};

// The 24 header bytes of `header` (magic and version filled in).
std::array<uint8_t, kFrameHeaderBytes> EncodeFrameHeader(const FrameHeader& header);

// Parses and validates the first kFrameHeaderBytes of `bytes`: magic, version, a known type, a
// zero reserved byte and length <= `max_payload_bytes`. InvalidArgument naming the field
// otherwise (also when `bytes` is shorter than a header).
absl::StatusOr<FrameHeader> ParseFrameHeader(std::string_view bytes,
                                             uint64_t max_payload_bytes = kDefaultMaxFrameBytes);

// Header + payload as one string (handshake messages, tests, fuzz seeds).
std::string EncodeFrame(FrameType type, uint32_t group, uint32_t sequence,
                        std::string_view payload);

// ---- Handshake ------------------------------------------------------------------------------
// Connecting side -> accepting side.
struct HelloMessage {
  int32_t rank = 0;          // the connecting rank, in [1, world_size)
  int32_t world_size = 0;    // in [1, kMaxWorldSize]
  int32_t target_rank = 0;   // the rank it means to reach, in [0, world_size)
  uint16_t listen_port = 0;  // where the connecting rank accepts its own peers (0: none)
  std::string host;          // the host other ranks should dial (empty: as the leader sees it)
  Nonce nonce{};             // fresh random bytes
};

// Accepting side -> connecting side: its identity, its nonce and HMAC(secret, "server" ...).
struct ChallengeMessage {
  int32_t rank = 0;
  int32_t world_size = 0;
  Nonce nonce{};
  Tag tag{};
};

// Connecting side -> accepting side: HMAC(secret, "client" ...).
struct ProofMessage {
  Tag tag{};
};

// Leader -> worker: where every rank accepts connections (index = rank).
struct PeerAddress {
  std::string host;
  uint16_t port = 0;
};
struct PeerTableMessage {
  std::vector<PeerAddress> peers;
};

std::string EncodeHello(const HelloMessage& m);
std::string EncodeChallenge(const ChallengeMessage& m);
std::string EncodeProof(const ProofMessage& m);
std::string EncodePeerTable(const PeerTableMessage& m);

// Strict decoders: exact lengths, ranges (ranks inside the world, world size in
// [1, kMaxWorldSize], hosts of at most kMaxHostBytes printable bytes), no trailing bytes.
absl::StatusOr<HelloMessage> DecodeHello(std::string_view payload);
absl::StatusOr<ChallengeMessage> DecodeChallenge(std::string_view payload);
absl::StatusOr<ProofMessage> DecodeProof(std::string_view payload);
absl::StatusOr<PeerTableMessage> DecodePeerTable(std::string_view payload);

// The bytes both HMAC tags cover: a role label ("server" or "client"), then both nonces, both
// ranks, the world size, the connecting side's listen port and host, so a tag cannot be replayed
// to another connection, reflected back, or moved to another rank or world.
std::string HandshakeTranscript(std::string_view role, const HelloMessage& hello,
                                const Nonce& server_nonce);

}  // namespace infer::comm

#endif  // INFER_COMM_FRAME_H_
