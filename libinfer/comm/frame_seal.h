// Integrity (and optionally secrecy) for the frames ranks exchange after the handshake.
//
// Each connection has two directions, each with its own 128-bit key derived from the handshake
// (DeriveLinkKeys: HMAC-SHA256 under the shared secret over both nonces, both ranks and the
// mode), and its own frame counter. Every frame after the handshake is
//
//   header (24 bytes) | payload (header.length bytes) | tag (kFrameSealBytes)
//
// where the tag is AES-128-GCM's under the direction's key, with the counter as the nonce: the
// header and the payload are authenticated (with `encrypt`, the payload is also encrypted and
// the header only authenticated). A receiver opens frames with the counter it expects next, so a
// changed byte, a replayed frame, a dropped or a reordered one all fail the tag, and the link is
// closed (DataLoss naming the peer). The leader's peer table is the first sealed frame of each
// link, and a rank's Leave frame its last: a forged Leave is an altered frame, not a leave.
//
// Thread-safety: one thread at a time per FrameSealer (the mesh's thread).
#ifndef INFER_COMM_FRAME_SEAL_H_
#define INFER_COMM_FRAME_SEAL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "libinfer/comm/frame.h"

namespace infer::comm {

inline constexpr size_t kFrameSealBytes = 16;  // the GCM tag after every sealed frame
inline constexpr size_t kLinkKeyBytes = 16;    // AES-128

using LinkKey = std::array<uint8_t, kLinkKeyBytes>;
using SealTag = std::array<uint8_t, kFrameSealBytes>;

// The keys of one connection, as one side sees them.
struct LinkKeys {
  LinkKey send{};
  LinkKey recv{};
};

// Both sides of a handshake derive the same pair (crossed): `connecting` says which side this is.
// The transcript binds the nonces, ranks and world (HandshakeTranscript); `encrypt` is bound
// too, so ranks that disagree on it fail every frame rather than misread one.
absl::StatusOr<LinkKeys> DeriveLinkKeys(std::string_view secret, const HelloMessage& hello,
                                        const Nonce& server_nonce, bool connecting, bool encrypt);

// One direction of one connection.
class FrameSealer {
 public:
  FrameSealer(const LinkKey& key, bool encrypt);
  ~FrameSealer();
  FrameSealer(FrameSealer&&) noexcept;
  FrameSealer& operator=(FrameSealer&&) noexcept;

  bool encrypt() const { return encrypt_; }
  uint64_t counter() const { return counter_; }

  // Sender: the tag of the next frame (`header`, then `payload`); with encrypt, the payload's
  // ciphertext goes to `ciphertext` (payload.size() bytes, may not alias `payload`). Advances
  // the counter. Internal only if OpenSSL fails.
  absl::StatusOr<SealTag> Seal(std::span<const uint8_t> header, std::span<const uint8_t> payload,
                               uint8_t* ciphertext);

  // Receiver: checks the next frame's tag; with encrypt, decrypts `payload` in place. Advances
  // the counter only when the tag verifies; DataLoss otherwise.
  absl::Status Open(std::span<const uint8_t> header, std::span<uint8_t> payload,
                    const SealTag& tag);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  bool encrypt_ = false;
  uint64_t counter_ = 0;
};

// A whole sealed frame of `type` (header, the payload or its ciphertext, the seal) for a frame
// sent outside the data path (the leader's peer table).
absl::StatusOr<std::string> SealFrame(FrameSealer& sealer, FrameType type,
                                      std::string_view payload);

}  // namespace infer::comm

#endif  // INFER_COMM_FRAME_SEAL_H_
