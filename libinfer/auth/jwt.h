// JSON Web Tokens (RFC 7519) signed with HMAC-SHA256 (JWS, RFC 7515), and nothing else.
//
// Why our own and not a library: Debian packages two C/C++ JWT libraries. libjwt (1.10) compared
// signatures with strcmp, a timing side channel (reported in 2024 as CVE-2024-25189), and had an
// algorithm-confusion report the same year (an RSA public key accepted as an HMAC secret,
// benmcollins/libjwt#200); libcpp-jwt (arun11299/cpp-jwt) fixed a non-constant-time HMAC check
// in 2024 (#101), had the same algorithm-confusion report (#102) and brings a JSON layer of its
// own. What HS256 needs is one HMAC, one constant-time comparison and strict parsing: it fits in
// this file over OpenSSL and nlohmann-json, is fuzzed (fuzz/fuzz_jwt.cc), and never lets the
// token choose the algorithm.
//
// Verification order: length bound, shape (three base64url segments), signature (constant-time)
// and only then JSON parsing, so a forger never reaches the JSON parser; then the header (alg must
// be exactly "HS256", typ if present "JWT", no crit) and the registered claims.
#ifndef INFER_AUTH_JWT_H_
#define INFER_AUTH_JWT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace infer::auth {

// Deepest JSON nesting accepted in a token header or payload (claims are flat).
inline constexpr int kMaxJwtJsonDepth = 16;

// What the verifier checks beyond the signature.
struct JwtPolicy {
  // Tokens longer than this many bytes are rejected before any work.
  size_t max_token_bytes = 8192;
  // False: only the signature and the header are checked (the claims are returned unchecked).
  bool check_claims = true;
  // Required `iss` and `aud` (aud may be a string or an array containing it); empty: not checked.
  std::string issuer;
  std::string audience;
  // `exp` is required and checked unless false (SKIP_EXP_CHECK in insecure mode).
  bool check_expiry = true;
  // Clock skew tolerated on exp, nbf and iat, in seconds (0..60).
  int64_t leeway_seconds = 60;
};

// Parses a JSON object strictly: valid UTF-8 JSON (nlohmann), the top level an object, no object
// with the same key twice at any depth (nlohmann alone keeps the last duplicate silently, which
// lets two parsers of one token disagree), nesting at most kMaxJwtJsonDepth.
// InvalidArgument otherwise.
absl::StatusOr<nlohmann::json> ParseStrictJsonObject(std::string_view text);

// Signs `payload` (a JSON object) as a compact HS256 JWS with header {"alg":"HS256","typ":"JWT"}.
// Internal if HMAC fails.
absl::StatusOr<std::string> SignJwtHs256(const nlohmann::json& payload, std::string_view key);

// Verifies a compact HS256 JWS under `key` and `policy` at time `now` (Unix seconds); returns the
// payload object. Unauthenticated with the reason otherwise.
absl::StatusOr<nlohmann::json> VerifyJwtHs256(std::string_view token, std::string_view key,
                                              const JwtPolicy& policy, int64_t now);

}  // namespace infer::auth

#endif  // INFER_AUTH_JWT_H_
