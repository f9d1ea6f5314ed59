#include "libinfer/auth/jwt.h"

#include <exception>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "libinfer/config/document.h"
#include "libinfer/util/crypto.h"
#include "libinfer/util/status_macros.h"

namespace infer::auth {
namespace {

using Json = nlohmann::json;

// The one header this library writes; fixed bytes, so signing never depends on JSON formatting.
constexpr std::string_view kHeaderJson = R"({"alg":"HS256","typ":"JWT"})";

absl::Status Reject(const std::string& why) {
  return absl::UnauthenticatedError(absl::StrCat("invalid token: ", why));
}

// A NumericDate claim (RFC 7519 section 2) as whole seconds. Fractions are not accepted: this
// library writes integers, and refusing others keeps one meaning per token.
absl::StatusOr<int64_t> IntClaim(const Json& payload, const char* name) {
  const Json& v = payload.at(name);
  if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<int64_t>();
  if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v.get<uint64_t>());
  }
  return Reject(absl::StrCat("claim '", name, "' is not an integer NumericDate"));
}

absl::Status CheckClaims(const Json& payload, const JwtPolicy& policy, int64_t now) {
  const int64_t leeway = policy.leeway_seconds;
  if (payload.contains("exp")) {
    INFER_ASSIGN_OR_RETURN(const int64_t exp, IntClaim(payload, "exp"));
    // Written so that no claim value can overflow: `now` and `leeway` are small.
    if (policy.check_expiry && exp <= now - leeway) return Reject("the token has expired");
  } else if (policy.check_expiry) {
    return Reject("the token has no 'exp' claim");
  }
  if (payload.contains("nbf")) {
    INFER_ASSIGN_OR_RETURN(const int64_t nbf, IntClaim(payload, "nbf"));
    if (nbf > now + leeway) return Reject("the token is not valid yet ('nbf' is in the future)");
  }
  if (payload.contains("iat")) {
    INFER_ASSIGN_OR_RETURN(const int64_t iat, IntClaim(payload, "iat"));
    if (iat > now + leeway) return Reject("the token was issued in the future ('iat')");
  }
  if (!policy.issuer.empty()) {
    const auto it = payload.find("iss");
    if (it == payload.end() || !it->is_string() || it->get<std::string>() != policy.issuer) {
      return Reject("wrong issuer ('iss')");
    }
  }
  if (!policy.audience.empty()) {
    const auto it = payload.find("aud");
    bool match = false;
    if (it != payload.end() && it->is_string()) {
      match = it->get<std::string>() == policy.audience;
    } else if (it != payload.end() && it->is_array()) {
      for (const Json& a : *it)
        match = match || (a.is_string() && a.get<std::string>() == policy.audience);
    }
    if (!match) return Reject("wrong audience ('aud')");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Json> ParseStrictJsonObject(std::string_view text) {
  return config::ParseStrictJsonObject(text, kMaxJwtJsonDepth);
}

absl::StatusOr<std::string> SignJwtHs256(const Json& payload, std::string_view key) {
  std::string payload_json;
  try {
    payload_json = payload.dump();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("cannot serialise token claims: ", e.what()));
  }
  std::string token =
      absl::StrCat(crypto::Base64EncodeUnpadded(kHeaderJson, crypto::Base64Alphabet::kUrl), ".",
                   crypto::Base64EncodeUnpadded(payload_json, crypto::Base64Alphabet::kUrl));
  INFER_ASSIGN_OR_RETURN(const crypto::Sha256Digest mac, crypto::HmacSha256(key, token));
  absl::StrAppend(&token, ".",
                  crypto::Base64EncodeUnpadded(crypto::AsBytes(mac), crypto::Base64Alphabet::kUrl));
  return token;
}

absl::StatusOr<Json> VerifyJwtHs256(std::string_view token, std::string_view key,
                                    const JwtPolicy& policy, int64_t now) {
  if (token.size() > policy.max_token_bytes) {
    return Reject(absl::StrFormat("longer than %d bytes", policy.max_token_bytes));
  }
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Reject("not a compact JWS (three base64url segments separated by '.')");
  }
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = token.substr(dot2 + 1);
  if (header_b64.empty() || payload_b64.empty()) return Reject("empty header or payload");
  if (signature_b64.empty()) return Reject("unsigned (only HS256 is accepted)");
  auto header_json = crypto::Base64DecodeUnpadded(header_b64, crypto::Base64Alphabet::kUrl);
  auto payload_json = crypto::Base64DecodeUnpadded(payload_b64, crypto::Base64Alphabet::kUrl);
  auto signature = crypto::Base64DecodeUnpadded(signature_b64, crypto::Base64Alphabet::kUrl);
  if (!header_json || !payload_json || !signature) {
    return Reject("a segment is not base64url without padding");
  }
  if (signature->size() != crypto::kSha256Bytes) {
    return Reject("the signature is not HMAC-SHA256 (only HS256 is accepted)");
  }
  // The signature first: a token that does not carry our MAC never reaches the JSON parser.
  INFER_ASSIGN_OR_RETURN(const crypto::Sha256Digest mac,
                         crypto::HmacSha256(key, token.substr(0, dot2)));
  if (!crypto::ConstantTimeEquals(crypto::AsBytes(mac), *signature)) return Reject("bad signature");

  auto header = ParseStrictJsonObject(*header_json);
  if (!header.ok()) return Reject(absl::StrCat("header: ", header.status().message()));
  const auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string() || alg->get<std::string>() != "HS256") {
    return Reject("the algorithm is not HS256 (the only one accepted)");
  }
  const auto typ = header->find("typ");
  if (typ != header->end() && (!typ->is_string() || typ->get<std::string>() != "JWT")) {
    return Reject("the header's 'typ' is not \"JWT\"");
  }
  if (header->contains("crit")) return Reject("the header has 'crit' extensions");

  auto payload = ParseStrictJsonObject(*payload_json);
  if (!payload.ok()) return Reject(absl::StrCat("payload: ", payload.status().message()));
  if (policy.check_claims) INFER_RETURN_IF_ERROR(CheckClaims(*payload, policy, now));
  return std::move(*payload);
}

}  // namespace infer::auth
