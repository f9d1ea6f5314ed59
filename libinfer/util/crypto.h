// Small cryptographic building blocks over OpenSSL's libcrypto: SHA-256, HMAC-SHA256, random bytes,
// constant-time comparison, and strict base64 / hex codecs. Nothing here logs or allocates
// secrets beyond the returned strings.
#ifndef INFER_UTIL_CRYPTO_H_
#define INFER_UTIL_CRYPTO_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace infer::crypto {

inline constexpr size_t kSha256Bytes = 32;
using Sha256Digest = std::array<uint8_t, kSha256Bytes>;

// SHA-256 of `data`. Internal if libcrypto fails (e.g. no default provider can be loaded).
absl::StatusOr<Sha256Digest> Sha256(std::string_view data);

// HMAC-SHA256 of `data` under `key` (any length). Internal if libcrypto fails.
absl::StatusOr<Sha256Digest> HmacSha256(std::string_view key, std::string_view data);

// `n` bytes from OpenSSL's CSPRNG; Internal if it cannot deliver.
absl::StatusOr<std::string> RandomBytes(size_t n);

// Equal length and equal bytes. Time depends only on the lengths, never on the contents
// (CRYPTO_memcmp); use it for every comparison of secret material.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// How many times ConstantTimeEquals ran in this process: lets tests check that each kind of
// secret (password tag, token signature, user epoch, API key) is compared through it.
uint64_t ConstantTimeEqualsCalls();

// Views a digest as bytes.
inline std::string_view AsBytes(const Sha256Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

// The two base64 alphabets (RFC 4648 sections 4 and 5).
enum class Base64Alphabet { kStandard, kUrl };

// Base64 without padding.
std::string Base64EncodeUnpadded(std::string_view data, Base64Alphabet alphabet);

// Strict decoding of unpadded base64: only characters of `alphabet`, no '=', no whitespace, a
// length that is not 1 mod 4, and zero unused bits in the last character (so every byte string
// has exactly one accepted encoding). nullopt otherwise.
std::optional<std::string> Base64DecodeUnpadded(std::string_view text, Base64Alphabet alphabet);

// Standard base64 with padding (Kubernetes Secret `data` values).
std::string Base64EncodePadded(std::string_view data);

// Lowercase hex of `data`.
std::string HexEncode(std::string_view data);

// Hex (either case) to bytes; nullopt on odd length or a non-hex character.
std::optional<std::string> HexDecode(std::string_view text);

}  // namespace infer::crypto

#endif  // INFER_UTIL_CRYPTO_H_
