#include "libinfer/comm/frame_seal.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libinfer/util/crypto.h"
#include "libinfer/util/status_macros.h"

namespace infer::comm {

struct FrameSealer::Ctx {
  EVP_CIPHER_CTX* cipher = nullptr;
  ~Ctx() { EVP_CIPHER_CTX_free(cipher); }
};

namespace {

// The 96-bit GCM nonce: 4 zero bytes, then the frame counter (little-endian). A key is used in
// one direction of one connection only, so (key, nonce) never repeats.
std::array<uint8_t, 12> NonceOf(uint64_t counter) {
  std::array<uint8_t, 12> iv{};
  for (int i = 0; i < 8; ++i) iv[4 + i] = static_cast<uint8_t>(counter >> (8 * i));
  return iv;
}

absl::Status OpenSslError(const char* what) {
  return absl::InternalError(absl::StrCat("frame seal: ", what, " failed"));
}

}  // namespace

absl::StatusOr<LinkKeys> DeriveLinkKeys(std::string_view secret, const HelloMessage& hello,
                                        const Nonce& server_nonce, bool connecting, bool encrypt) {
  const std::string transcript =
      HandshakeTranscript(encrypt ? "frame keys, encrypted" : "frame keys", hello, server_nonce);
  auto material = crypto::HmacSha256(secret, transcript);
  if (!material.ok()) return material.status();
  const std::string_view root(reinterpret_cast<const char*>(material->data()), material->size());
  auto c2s = crypto::HmacSha256(root, "connecting to accepting");
  auto s2c = crypto::HmacSha256(root, "accepting to connecting");
  if (!c2s.ok()) return c2s.status();
  if (!s2c.ok()) return s2c.status();
  LinkKeys keys;
  std::memcpy((connecting ? keys.send : keys.recv).data(), c2s->data(), kLinkKeyBytes);
  std::memcpy((connecting ? keys.recv : keys.send).data(), s2c->data(), kLinkKeyBytes);
  return keys;
}

FrameSealer::FrameSealer(const LinkKey& key, bool encrypt)
    : ctx_(std::make_unique<Ctx>()), encrypt_(encrypt) {
  ctx_->cipher = EVP_CIPHER_CTX_new();
  // The key is set once; each frame sets only its nonce.
  if (ctx_->cipher != nullptr &&
      EVP_CipherInit_ex(ctx_->cipher, EVP_aes_128_gcm(), nullptr, key.data(), nullptr, -1) != 1) {
    EVP_CIPHER_CTX_free(ctx_->cipher);
    ctx_->cipher = nullptr;
  }
}

FrameSealer::~FrameSealer() = default;
FrameSealer::FrameSealer(FrameSealer&&) noexcept = default;
FrameSealer& FrameSealer::operator=(FrameSealer&&) noexcept = default;

namespace {

// One GCM pass under the context's key with `counter`'s nonce: the header is authenticated, the
// payload authenticated and, with `transform`, encrypted (enc = 1) or decrypted (enc = 0) from
// `in` into `out` (may be the same buffer).
absl::Status GcmPass(EVP_CIPHER_CTX* c, uint64_t counter, int enc, bool transform,
                     std::span<const uint8_t> header, const uint8_t* in, uint8_t* out, size_t n) {
  if (c == nullptr) return OpenSslError("EVP_CIPHER_CTX_new / AES-128-GCM");
  const auto iv = NonceOf(counter);
  int len = 0;
  if (EVP_CipherInit_ex(c, nullptr, nullptr, nullptr, iv.data(), enc) != 1 ||
      EVP_CipherUpdate(c, nullptr, &len, header.data(), static_cast<int>(header.size())) != 1) {
    return OpenSslError("EVP_CipherInit_ex");
  }
  // OpenSSL takes int lengths: long payloads go in pieces.
  constexpr size_t kPiece = size_t{1} << 30;
  for (size_t at = 0; at < n; at += kPiece) {
    const int piece = static_cast<int>(std::min(kPiece, n - at));
    if (EVP_CipherUpdate(c, transform ? out + at : nullptr, &len, in + at, piece) != 1) {
      return OpenSslError("EVP_CipherUpdate");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SealTag> FrameSealer::Seal(std::span<const uint8_t> header,
                                          std::span<const uint8_t> payload, uint8_t* ciphertext) {
  EVP_CIPHER_CTX* c = ctx_ ? ctx_->cipher : nullptr;
  if (absl::Status s =
          GcmPass(c, counter_, 1, encrypt_, header, payload.data(), ciphertext, payload.size());
      !s.ok()) {
    return s;
  }
  SealTag tag{};
  int len = 0;
  if (EVP_CipherFinal_ex(c, nullptr, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag.size()), tag.data()) != 1) {
    return OpenSslError("EVP_CipherFinal_ex (seal)");
  }
  ++counter_;
  return tag;
}

absl::Status FrameSealer::Open(std::span<const uint8_t> header, std::span<uint8_t> payload,
                               const SealTag& tag) {
  EVP_CIPHER_CTX* c = ctx_ ? ctx_->cipher : nullptr;
  INFER_RETURN_IF_ERROR(
      GcmPass(c, counter_, 0, encrypt_, header, payload.data(), payload.data(), payload.size()));
  SealTag expected = tag;
  if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, static_cast<int>(expected.size()),
                          expected.data()) != 1) {
    return OpenSslError("EVP_CIPHER_CTX_ctrl (open)");
  }
  int len = 0;
  if (EVP_CipherFinal_ex(c, nullptr, &len) != 1) {
    return absl::DataLossError(
        absl::StrCat("frame ", counter_,
                     " failed its integrity check (altered, replayed, dropped or reordered in "
                     "transit, or the ranks disagree on encryption)"));
  }
  ++counter_;
  return absl::OkStatus();
}

absl::StatusOr<std::string> SealFrame(FrameSealer& sealer, FrameType type,
                                      std::string_view payload) {
  const auto header = EncodeFrameHeader({type, 0, 0, payload.size()});
  const std::span<const uint8_t> plain(reinterpret_cast<const uint8_t*>(payload.data()),
                                       payload.size());
  std::vector<uint8_t> cipher(sealer.encrypt() ? payload.size() : 0);
  auto tag = sealer.Seal(header, plain, sealer.encrypt() ? cipher.data() : nullptr);
  if (!tag.ok()) return tag.status();
  std::string frame(reinterpret_cast<const char*>(header.data()), header.size());
  if (sealer.encrypt()) {
    frame.append(reinterpret_cast<const char*>(cipher.data()), cipher.size());
  } else {
    frame.append(payload);
  }
  frame.append(reinterpret_cast<const char*>(tag->data()), tag->size());
  return frame;
}

}  // namespace infer::comm
