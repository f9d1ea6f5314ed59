// libFuzzer target: the HS256 token verifier on arbitrary bytes must return a Status (never
// crash, leak, read out of bounds or hit undefined behaviour), and never accept a token whose
// signature it did not make.
//
// The first byte picks the mode:
//   even: the rest is a token, verified as is (shape, base64url, signature checks);
//   odd:  the rest is "<header JSON>\n<payload JSON>", signed with the key and then verified, so
//         the JSON parser, the duplicate-key check and the claim checks see arbitrary input too.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "libinfer/auth/jwt.h"
#include "libinfer/util/crypto.h"

namespace {

constexpr std::string_view kKey = "fuzz-key-0123456789abcdef0123456789abcdef";

std::string B64(std::string_view s) {
  return infer::crypto::Base64EncodeUnpadded(s, infer::crypto::Base64Alphabet::kUrl);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  infer::auth::JwtPolicy policy;
  policy.issuer = "libinfer";
  policy.audience = "libinfer";
  const int64_t now = 1700000000;
  if ((data[0] & 1) == 0) {
    auto verified = infer::auth::VerifyJwtHs256(input, kKey, policy, now);
    if (verified.ok()) {
      // Only tokens carrying our MAC may pass; the fuzzer cannot forge one.
      const size_t dot = input.rfind('.');
      auto mac = infer::crypto::HmacSha256(kKey, input.substr(0, dot));
      if (!mac.ok() || B64(infer::crypto::AsBytes(*mac)) != input.substr(dot + 1)) __builtin_trap();
    }
    return 0;
  }
  const size_t nl = input.find('\n');
  const std::string_view header = input.substr(0, nl);
  const std::string_view payload = nl == std::string_view::npos ? "" : input.substr(nl + 1);
  std::string token = B64(header) + "." + B64(payload);
  auto mac = infer::crypto::HmacSha256(kKey, token);
  if (!mac.ok()) return 0;
  token += "." + B64(infer::crypto::AsBytes(*mac));
  (void)infer::auth::VerifyJwtHs256(token, kKey, policy, now);
  policy.check_claims = false;
  (void)infer::auth::VerifyJwtHs256(token, kKey, policy, now);
  (void)infer::auth::ParseStrictJsonObject(payload);
  return 0;
}
