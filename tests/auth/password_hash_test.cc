// argon2id and legacy hashes: round trips, independent reference vectors (argon2-cffi, Python's
// hashlib), parameters read back from the string, weak and absurd parameters refused.
#include "libinfer/auth/password_hash.h"

#include <argon2.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "infer/auth.h"

namespace infer::auth {
namespace {

// Made by argon2-cffi 25.1.0 (an independent implementation's front end):
//   PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32,
//                  type=Type.ID).hash("correct horse battery staple", salt=b"libinfer-test-01")
constexpr char kCffiHash[] =
    "$argon2id$v=19$m=19456,t=2,p=1$bGliaW5mZXItdGVzdC0wMQ$BOy4NFB6n+oIWSYr4Cw+"
    "mAJPWm3T9gyRAHIAtPqxjGI";
// The same with t=3, m=24576, p=2 and password "Tr0ub4dor&3".
constexpr char kCffiHashT3P2[] =
    "$argon2id$v=19$m=24576,t=3,p=2$bGliaW5mZXItdGVzdC0wMg$llylcSiCOhFyHdS7MUW/"
    "6y2TYuS3VBd8ZqTo7CLfqzg";
// Legacy seed format, computed with Python's hashlib and cross-checked with sha256sum:
//   salt = "0123456789abcdef0123456789abcdef"
//   hashlib.sha256((salt + "my_password").encode("utf-8")).hexdigest()
constexpr char kLegacyHash[] =
    "0123456789abcdef0123456789abcdef$"
    "059d92b5bea96328cf79ae377f13ff4d7c265bd546c25ca29ec0a1fa5db028c2";

TEST(PasswordHashTest, VerifiesArgon2idHashesFromAnotherImplementation) {
  EXPECT_TRUE(VerifyPassword(kCffiHash, "correct horse battery staple").value());
  EXPECT_FALSE(VerifyPassword(kCffiHash, "correct horse battery stapler").value());
  EXPECT_TRUE(VerifyPassword(kCffiHashT3P2, "Tr0ub4dor&3").value());
  EXPECT_FALSE(VerifyPassword(kCffiHashT3P2, "Tr0ub4dor&4").value());
}

TEST(PasswordHashTest, ReadsParametersBackFromTheString) {
  auto parsed = ParsePasswordHash(kCffiHashT3P2);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->kind, HashKind::kArgon2id);
  EXPECT_EQ(parsed->params.memory_kib, 24576u);
  EXPECT_EQ(parsed->params.iterations, 3u);
  EXPECT_EQ(parsed->params.parallelism, 2u);
  EXPECT_EQ(parsed->salt, "libinfer-test-02");
  EXPECT_EQ(parsed->tag.size(), 32u);
}

TEST(PasswordHashTest, Argon2idRoundTripWithDefaultAndHigherParameters) {
  auto hash = HashPassword("s3cret pässword");
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(hash->rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << *hash;
  EXPECT_TRUE(VerifyPassword(*hash, "s3cret pässword").value());
  EXPECT_FALSE(VerifyPassword(*hash, "s3cret password").value());
  // libargon2's own verifier agrees with our encoding.
  EXPECT_EQ(
      argon2id_verify(hash->c_str(), "s3cret pässword", std::string("s3cret pässword").size()),
      ARGON2_OK);

  auto strong = HashPassword("pw", Argon2Params{32768, 3, 2});
  ASSERT_TRUE(strong.ok());
  EXPECT_EQ(strong->rfind("$argon2id$v=19$m=32768,t=3,p=2$", 0), 0u);
  EXPECT_TRUE(VerifyPassword(*strong, "pw").value());
  // Fresh salt every time.
  EXPECT_NE(*HashPassword("pw"), *HashPassword("pw"));
}

TEST(PasswordHashTest, DefaultsAreAtLeastTheOwaspMinimum) {
  const Argon2Params d;
  EXPECT_GE(d.memory_kib, 19456u);
  EXPECT_GE(d.iterations, 2u);
  EXPECT_GE(d.parallelism, 1u);
}

TEST(PasswordHashTest, ParametersBelowTheMinimumAreRefused) {
  for (const Argon2Params& p :
       {Argon2Params{19455, 2, 1}, Argon2Params{19456, 1, 1}, Argon2Params{19456, 2, 0}}) {
    EXPECT_EQ(HashPassword("pw", p).status().code(), absl::StatusCode::kInvalidArgument);
  }
  // A real hash made with weak parameters (argon2-cffi, m=4096, t=1) is refused, not verified.
  auto weak = VerifyPassword(
      "$argon2id$v=19$m=4096,t=1,p=1$bGliaW5mZXItdGVzdC0wMw$Awr2w+dLBSKyqU5CztXq/s0//"
      "Fo1fN8tiz2amAXPSsA",
      "pw");
  EXPECT_EQ(weak.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(weak.status().message()).find("m=4096"), std::string::npos);
}

TEST(PasswordHashTest, AbsurdParametersAreRefused) {
  // Memory above 1 GiB, absurd passes and lanes would make one login a denial of service.
  for (const char* params : {"m=1048577,t=2,p=1", "m=4294967295,t=2,p=1", "m=19456,t=65,p=1",
                             "m=19456,t=2,p=17", "m=19456,t=4294967295,p=1"}) {
    const std::string hash = std::string("$argon2id$v=19$") + params +
                             "$bGliaW5mZXItdGVzdC0wMQ$BOy4NFB6n+oIWSYr4Cw+mAJPWm3T9gyRAHIAtPqxjGI";
    EXPECT_EQ(ParsePasswordHash(hash).status().code(), absl::StatusCode::kInvalidArgument)
        << params;
  }
}

TEST(PasswordHashTest, MalformedHashesAreRefused) {
  const std::string tail = "$bGliaW5mZXItdGVzdC0wMQ$BOy4NFB6n+oIWSYr4Cw+mAJPWm3T9gyRAHIAtPqxjGI";
  for (const std::string& bad : {
           std::string("fakehashedhash"),  // the seed's placeholder
           std::string(""),
           std::string("$argon2i$v=19$m=19456,t=2,p=1") + tail,
           std::string("$argon2d$v=19$m=19456,t=2,p=1") + tail,
           std::string("$argon2id$v=16$m=19456,t=2,p=1") + tail,
           std::string("$argon2id$m=19456,t=2,p=1") + tail,
           std::string("$argon2id$v=19$m=019456,t=2,p=1") + tail,
           std::string("$argon2id$v=19$t=2,m=19456,p=1") + tail,
           std::string("$argon2id$v=19$m=19456,t=2,p=1,x=1") + tail,
           std::string(
               "$argon2id$v=19$m=19456,t=2,p=1$bGliaW5mZXItdGVzdC0wMQ==$AAAAAAAAAAAAAAAAAAAAAA"),
           std::string(
               "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$AAAAAAAAAAAAAAAAAAAAAA"),  // 4-byte salt
           std::string("$argon2id$v=19$m=19456,t=2,p=1$bGliaW5mZXItdGVzdC0wMQ$AAAA"),  // 3-byte tag
           std::string("$argon2id$v=19$m=19456,t=2,p=1$bGliaW5mZXItdGVzdC0wMQ$!!!!"),
           std::string("salt$nothex"),
           std::string("$0123abcd"),
           std::string("0123456789abcdef0123456789abcdef$059d92b5"),
       }) {
    auto parsed = ParsePasswordHash(bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(PasswordHashTest, LegacySeedFormatKnownAnswer) {
  auto parsed = ParsePasswordHash(kLegacyHash);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->kind, HashKind::kLegacySha256);
  EXPECT_TRUE(VerifyPassword(kLegacyHash, "my_password").value());
  EXPECT_FALSE(VerifyPassword(kLegacyHash, "my_passwore").value());
  // Order matters: sha256(password + salt) is not the format.
  EXPECT_FALSE(VerifyPassword(kLegacyHash, "").value());
}

TEST(PasswordHashTest, LegacyRoundTripHasTheSeedShape) {
  auto hash = HashPasswordLegacySha256("my_password");
  ASSERT_TRUE(hash.ok());
  ASSERT_EQ(hash->size(), 32u + 1 + 64u) << *hash;
  EXPECT_EQ((*hash)[32], '$');
  for (char c : hash->substr(0, 32) + hash->substr(33)) {
    EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << *hash;
  }
  EXPECT_TRUE(VerifyPassword(*hash, "my_password").value());
  EXPECT_FALSE(VerifyPassword(*hash, "my_Password").value());
}

TEST(PasswordHashTest, PasswordLengthBounds) {
  EXPECT_EQ(HashPassword("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HashPassword(std::string(kMaxPasswordBytes + 1, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(HashPassword(std::string(kMaxPasswordBytes, 'x')).ok());
  EXPECT_EQ(VerifyPassword(kCffiHash, std::string(kMaxPasswordBytes + 1, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PasswordHashTest, DummyHashMatchesNothing) {
  auto dummy = MakeDummyHash(Argon2Params{});
  ASSERT_TRUE(dummy.ok());
  EXPECT_FALSE(VerifyParsedHash(*dummy, "").value());
  EXPECT_FALSE(VerifyParsedHash(*dummy, "password").value());
}

TEST(PasswordHashTest, GeneratedJwtKeys) {
  std::set<std::string> keys;
  for (int i = 0; i < 4; ++i) {
    auto key = GenerateJwtKey();
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(key->size(), 64u);
    for (char c : *key) {
      EXPECT_TRUE(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << *key;
    }
    keys.insert(*key);
  }
  EXPECT_EQ(keys.size(), 4u);
}

}  // namespace
}  // namespace infer::auth
