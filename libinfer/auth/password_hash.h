// Password hashes: argon2id PHC strings (libargon2) and the seed deployment's legacy salted
// SHA-256. The public entry points (HashPassword, VerifyPassword, ...) are declared in
// include/infer/auth.h; this header adds the parsed form the AuthStore keeps per user, so a
// stored hash is parsed and bounds-checked once at load rather than at every login.
#ifndef INFER_AUTH_PASSWORD_HASH_H_
#define INFER_AUTH_PASSWORD_HASH_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "infer/auth.h"

namespace infer::auth {

// Bounds on argon2id parameters accepted in stored hashes and for new hashes. The minimum is
// OWASP's (Password Storage Cheat Sheet: m=19 MiB, t=2, p=1); the maximum keeps one login from
// tying up a core and a gigabyte for long (a hostile or mistyped hash is a denial of service).
inline constexpr uint32_t kMinArgon2MemoryKib = 19456;
inline constexpr uint32_t kMaxArgon2MemoryKib = 1u << 20;  // 1 GiB
inline constexpr uint32_t kMinArgon2Iterations = 2;
inline constexpr uint32_t kMaxArgon2Iterations = 64;
inline constexpr uint32_t kMinArgon2Parallelism = 1;
inline constexpr uint32_t kMaxArgon2Parallelism = 16;
// Salt and tag lengths accepted in stored hashes, in bytes.
inline constexpr size_t kMinArgon2SaltBytes = 8;
inline constexpr size_t kMaxArgon2SaltBytes = 64;
inline constexpr size_t kMinArgon2TagBytes = 16;
inline constexpr size_t kMaxArgon2TagBytes = 64;
// New hashes: salt and tag lengths.
inline constexpr size_t kArgon2SaltBytes = 16;
inline constexpr size_t kArgon2TagBytes = 32;
// Legacy salts: Python's secrets.token_hex(16) gives 32 characters; accept what a hand-made
// Secret might hold, within reason.
inline constexpr size_t kMaxLegacySaltChars = 256;

enum class HashKind { kArgon2id, kLegacySha256 };

// A stored hash, parsed and validated.
struct ParsedHash {
  HashKind kind = HashKind::kArgon2id;
  // argon2id only.
  Argon2Params params;
  // argon2id: the raw salt bytes; legacy: the salt text as written (hashed as text).
  std::string salt;
  // argon2id: the raw tag; legacy: the 32 raw bytes of the SHA-256.
  std::string tag;
};

// Parses "$argon2id$v=19$m=..,t=..,p=..$<salt>$<tag>" (PHC, standard base64 without padding;
// parameters in that order, as libargon2 writes them) or the legacy "<salt>$<64 hex>".
// InvalidArgument with the reason (never echoing the hash) otherwise, including argon2i/argon2d,
// other versions, and parameters outside the bounds above.
absl::StatusOr<ParsedHash> ParsePasswordHash(std::string_view stored);

// Checks parameters against the bounds above; InvalidArgument naming the one out of range.
absl::Status ValidateArgon2Params(const Argon2Params& params);

// Recomputes the tag for `password` and compares in constant time. Internal if libargon2 fails
// (e.g. memory allocation).
absl::StatusOr<bool> VerifyParsedHash(const ParsedHash& hash, std::string_view password);

// A random argon2id "hash" with `params` that no password matches (in practice): unknown users
// are verified against it so they cost the same work as known ones.
absl::StatusOr<ParsedHash> MakeDummyHash(const Argon2Params& params);

}  // namespace infer::auth

#endif  // INFER_AUTH_PASSWORD_HASH_H_
