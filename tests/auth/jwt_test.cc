// The HS256 verifier: RFC 7515 appendix A.1, and a table of hostile tokens that must all fail.
#include "libinfer/auth/jwt.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <vector>

#include "libinfer/util/crypto.h"

namespace infer::auth {
namespace {

using Json = nlohmann::json;

// RFC 7515 appendix A.1: the JWS and the key (the JWK's "k", base64url).
constexpr char kRfcToken[] =
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl"
    "fQ."
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
constexpr char kRfcKeyB64[] =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
constexpr int64_t kRfcExp = 1300819380;

std::string RfcKey() {
  return crypto::Base64DecodeUnpadded(kRfcKeyB64, crypto::Base64Alphabet::kUrl).value();
}

std::string B64(std::string_view s) {
  return crypto::Base64EncodeUnpadded(s, crypto::Base64Alphabet::kUrl);
}

// An HMAC over "header.payload" with the given digest, independent of SignJwtHs256.
std::string Hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string MakeToken(std::string_view header, std::string_view payload, std::string_view key,
                      const EVP_MD* md = EVP_sha256()) {
  const std::string input = B64(header) + "." + B64(payload);
  return input + "." + B64(Hmac(md, key, input));
}

constexpr char kKey[] = "0123456789abcdef0123456789abcdef-test-key";
constexpr int64_t kNow = 1700000000;
constexpr char kHs256Header[] = R"({"alg":"HS256","typ":"JWT"})";

JwtPolicy Policy() {
  JwtPolicy p;
  p.issuer = "libinfer";
  p.audience = "libinfer";
  return p;
}

std::string Payload(int64_t iat, int64_t nbf, int64_t exp, std::string iss = "libinfer",
                    std::string aud = "libinfer") {
  return Json{{"sub", "alice"}, {"role", "admin"}, {"iat", iat}, {"nbf", nbf},
              {"exp", exp},     {"iss", iss},      {"aud", aud}, {"jti", "abc"}}
      .dump();
}

TEST(JwtTest, Rfc7515AppendixA1Verifies) {
  JwtPolicy signature_only;
  signature_only.check_claims = false;
  auto payload = VerifyJwtHs256(kRfcToken, RfcKey(), signature_only, /*now=*/0);
  ASSERT_TRUE(payload.ok()) << payload.status();
  EXPECT_EQ((*payload)["iss"], "joe");
  EXPECT_EQ((*payload)["exp"], kRfcExp);
  EXPECT_EQ((*payload)["http://example.com/is_root"], true);

  // With the claim policy: valid before exp for issuer "joe" ...
  JwtPolicy joe;
  joe.issuer = "joe";
  EXPECT_TRUE(VerifyJwtHs256(kRfcToken, RfcKey(), joe, kRfcExp - 100).ok());
  // ... within the 60 s leeway after it, and not 61 s after.
  EXPECT_TRUE(VerifyJwtHs256(kRfcToken, RfcKey(), joe, kRfcExp + 59).ok());
  EXPECT_EQ(VerifyJwtHs256(kRfcToken, RfcKey(), joe, kRfcExp + 61).status().code(),
            absl::StatusCode::kUnauthenticated);
  // A wrong key fails.
  EXPECT_FALSE(VerifyJwtHs256(kRfcToken, "not the key", signature_only, 0).ok());
}

TEST(JwtTest, SignedTokensVerifyAndCarryTheClaims) {
  auto token = SignJwtHs256(Json::parse(Payload(kNow, kNow, kNow + 3600)), kKey);
  ASSERT_TRUE(token.ok());
  auto payload = VerifyJwtHs256(*token, kKey, Policy(), kNow);
  ASSERT_TRUE(payload.ok()) << payload.status();
  EXPECT_EQ((*payload)["sub"], "alice");
  // Leeway edges: nbf 60 s ahead and exp 59 s behind still pass.
  EXPECT_TRUE(VerifyJwtHs256(MakeToken(kHs256Header, Payload(kNow, kNow + 60, kNow + 3600), kKey),
                             kKey, Policy(), kNow)
                  .ok());
  EXPECT_TRUE(VerifyJwtHs256(MakeToken(kHs256Header, Payload(kNow, kNow, kNow - 59), kKey), kKey,
                             Policy(), kNow)
                  .ok());
  // aud as an array containing ours (RFC 7519 4.1.3).
  const std::string array_aud = Json{{"sub", "a"},
                                     {"exp", kNow + 10},
                                     {"iss", "libinfer"},
                                     {"aud", Json::array({"other", "libinfer"})}}
                                    .dump();
  EXPECT_TRUE(VerifyJwtHs256(MakeToken(kHs256Header, array_aud, kKey), kKey, Policy(), kNow).ok());
  // Without expiry checks (insecure mode) an expired token passes, other checks stay.
  JwtPolicy no_exp = Policy();
  no_exp.check_expiry = false;
  EXPECT_TRUE(
      VerifyJwtHs256(MakeToken(kHs256Header, Payload(kNow - 9999, kNow - 9999, kNow - 9000), kKey),
                     kKey, no_exp, kNow)
          .ok());
  EXPECT_FALSE(
      VerifyJwtHs256(MakeToken(kHs256Header, Payload(kNow, kNow, kNow - 9000, "evil"), kKey), kKey,
                     no_exp, kNow)
          .ok());
}

struct HostileCase {
  const char* name;
  std::string token;
};

std::vector<HostileCase> HostileTokens() {
  const std::string good_payload = Payload(kNow, kNow, kNow + 3600);
  const std::string good = MakeToken(kHs256Header, good_payload, kKey);
  std::vector<HostileCase> cases;
  const auto add = [&](const char* name, std::string token) {
    cases.push_back({name, std::move(token)});
  };
  add("alg none, empty signature",
      B64(R"({"alg":"none","typ":"JWT"})") + "." + B64(good_payload) + ".");
  add("alg none, no signature segment", B64(R"({"alg":"none"})") + "." + B64(good_payload));
  add("alg none with an HMAC signature", MakeToken(R"({"alg":"none"})", good_payload, kKey));
  add("HS512", MakeToken(R"({"alg":"HS512","typ":"JWT"})", good_payload, kKey, EVP_sha512()));
  add("HS384", MakeToken(R"({"alg":"HS384","typ":"JWT"})", good_payload, kKey, EVP_sha384()));
  add("RS256 header with an HMAC-SHA256 signature",
      MakeToken(R"({"alg":"RS256","typ":"JWT"})", good_payload, kKey));
  add("ES256 header with an HMAC-SHA256 signature",
      MakeToken(R"({"alg":"ES256","typ":"JWT"})", good_payload, kKey));
  add("alg hs256 (case)", MakeToken(R"({"alg":"hs256"})", good_payload, kKey));
  add("no alg", MakeToken(R"({"typ":"JWT"})", good_payload, kKey));
  add("typ not JWT", MakeToken(R"({"alg":"HS256","typ":"JWS"})", good_payload, kKey));
  add("crit header", MakeToken(R"({"alg":"HS256","crit":["exp"]})", good_payload, kKey));
  {
    std::string t = good;
    const size_t last = t.size() - 2;  // a character with all 6 bits significant
    t[last] = t[last] == 'A' ? 'B' : 'A';
    add("flipped signature bit", t);
  }
  add("wrong key", MakeToken(kHs256Header, good_payload, "another key of more than 32 bytes!!"));
  add("expired by 61 s",
      MakeToken(kHs256Header, Payload(kNow - 3600, kNow - 3600, kNow - 61), kKey));
  add("nbf 61 s in the future",
      MakeToken(kHs256Header, Payload(kNow, kNow + 61, kNow + 3600), kKey));
  add("iat 61 s in the future",
      MakeToken(kHs256Header, Payload(kNow + 61, kNow, kNow + 3600), kKey));
  add("wrong aud",
      MakeToken(kHs256Header, Payload(kNow, kNow, kNow + 3600, "libinfer", "other"), kKey));
  add("wrong iss",
      MakeToken(kHs256Header, Payload(kNow, kNow, kNow + 3600, "evil", "libinfer"), kKey));
  add("missing exp",
      MakeToken(kHs256Header, R"({"sub":"alice","iss":"libinfer","aud":"libinfer"})", kKey));
  add("exp as a string",
      MakeToken(kHs256Header, R"({"exp":"9999999999","iss":"libinfer","aud":"libinfer"})", kKey));
  add("exp as a fraction",
      MakeToken(kHs256Header, R"({"exp":9999999999.5,"iss":"libinfer","aud":"libinfer"})", kKey));
  add("non-base64", "!!!.???.***");
  add("base64 with padding", good + "=");
  add("standard base64 alphabet", good.substr(0, good.size() - 1) + "+");
  add("truncated", good.substr(0, good.size() - 5));
  add("truncated to two segments", good.substr(0, good.rfind('.')));
  add("four segments", good + ".AAAA");
  add("empty", "");
  add("1 MB token", MakeToken(kHs256Header,
                              Json{{"sub", std::string(1 << 20, 'a')},
                                   {"exp", kNow + 3600},
                                   {"iss", "libinfer"},
                                   {"aud", "libinfer"}}
                                  .dump(),
                              kKey));
  add("duplicate payload keys (sub)",
      MakeToken(
          kHs256Header,
          R"({"sub":"bob","role":"user","sub":"alice","exp":1700003600,"iss":"libinfer","aud":"libinfer"})",
          kKey));
  add("duplicate payload keys (exp)",
      MakeToken(kHs256Header, R"({"exp":1700003600,"exp":1,"iss":"libinfer","aud":"libinfer"})",
                kKey));
  add("duplicate header keys (alg)",
      MakeToken(R"({"alg":"none","alg":"HS256"})", good_payload, kKey));
  add("payload is an array", MakeToken(kHs256Header, R"([1,2,3])", kKey));
  add("payload is not JSON", MakeToken(kHs256Header, "exp=1", kKey));
  add("payload with invalid UTF-8",
      MakeToken(kHs256Header,
                "{\"sub\":\"\xff\",\"exp\":1700003600,\"iss\":\"libinfer\",\"aud\":\"libinfer\"}",
                kKey));
  add("deeply nested payload",
      MakeToken(kHs256Header, std::string(100, '[') + std::string(100, ']'), kKey));
  return cases;
}

TEST(JwtTest, HostileTokensAreAllRejected) {
  for (const HostileCase& c : HostileTokens()) {
    auto result = VerifyJwtHs256(c.token, kKey, Policy(), kNow);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnauthenticated) << c.name;
  }
}

TEST(JwtTest, TheHostileTableReallyDiffersFromAGoodToken) {
  // Guard against a broken table: the same builders make a token that passes.
  EXPECT_TRUE(VerifyJwtHs256(MakeToken(kHs256Header, Payload(kNow, kNow, kNow + 3600), kKey), kKey,
                             Policy(), kNow)
                  .ok());
}

TEST(JwtTest, OversizedTokensAreRejectedBeforeAnyWork) {
  JwtPolicy p = Policy();
  const std::string token = MakeToken(kHs256Header, Payload(kNow, kNow, kNow + 3600), kKey);
  p.max_token_bytes = token.size() - 1;
  auto r = VerifyJwtHs256(token, kKey, p, kNow);
  EXPECT_NE(std::string(r.status().message()).find("longer than"), std::string::npos);
}

TEST(JwtTest, StrictJsonParser) {
  EXPECT_TRUE(ParseStrictJsonObject(R"({"a":{"b":1},"c":{"b":2}})").ok());  // same key, two objects
  EXPECT_FALSE(ParseStrictJsonObject(R"({"a":{"b":1,"b":2}})").ok());
  EXPECT_FALSE(ParseStrictJsonObject(R"({"a":[{"x":1,"x":1}]})").ok());
  EXPECT_FALSE(ParseStrictJsonObject(R"({"a":1} trailing)").ok());
  EXPECT_FALSE(ParseStrictJsonObject(R"("string")").ok());
  EXPECT_FALSE(ParseStrictJsonObject("").ok());
  std::string deep = "{\"a\":";
  for (int i = 0; i < kMaxJwtJsonDepth + 2; ++i) deep += "[";
  EXPECT_FALSE(ParseStrictJsonObject(deep).ok());
}

}  // namespace
}  // namespace infer::auth
