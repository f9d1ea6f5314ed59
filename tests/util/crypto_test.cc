// SHA-256 / HMAC known answers (FIPS 180-2, RFC 4231), strict base64, constant-time equality.
#include "libinfer/util/crypto.h"

#include <gtest/gtest.h>

#include <string>

namespace infer::crypto {
namespace {

TEST(CryptoTest, Sha256KnownAnswer) {
  // FIPS 180-2 appendix B.1.
  auto d = Sha256("abc");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(HexEncode(AsBytes(*d)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CryptoTest, HmacSha256KnownAnswer) {
  // RFC 4231 test case 2.
  auto mac = HmacSha256("Jefe", "what do ya want for nothing?");
  ASSERT_TRUE(mac.ok());
  EXPECT_EQ(HexEncode(AsBytes(*mac)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(CryptoTest, Base64RoundTripsEveryLength) {
  std::string data;
  for (int n = 0; n < 40; ++n) {
    for (Base64Alphabet a : {Base64Alphabet::kStandard, Base64Alphabet::kUrl}) {
      const std::string enc = Base64EncodeUnpadded(data, a);
      EXPECT_EQ(enc.find('='), std::string::npos);
      auto dec = Base64DecodeUnpadded(enc, a);
      ASSERT_TRUE(dec.has_value()) << n;
      EXPECT_EQ(*dec, data);
    }
    data.push_back(static_cast<char>(n * 37 + 250));
  }
  EXPECT_EQ(Base64EncodePadded("ab"), "YWI=");
  EXPECT_EQ(Base64EncodePadded("alice"), "YWxpY2U=");
}

TEST(CryptoTest, Base64DecodingIsStrict) {
  const auto url = Base64Alphabet::kUrl;
  EXPECT_TRUE(Base64DecodeUnpadded("", url).has_value());
  EXPECT_FALSE(Base64DecodeUnpadded("YWI=", url));  // padding
  EXPECT_FALSE(Base64DecodeUnpadded("YW I", url));  // whitespace
  EXPECT_FALSE(Base64DecodeUnpadded("Y", url));     // length 1 mod 4
  EXPECT_FALSE(Base64DecodeUnpadded("YWJ", url));   // non-zero unused bits ("YWI" is canonical)
  EXPECT_TRUE(Base64DecodeUnpadded("YWI", url).has_value());
  EXPECT_FALSE(Base64DecodeUnpadded("a+b/", url));  // standard characters in base64url
  EXPECT_FALSE(Base64DecodeUnpadded("a-b_", Base64Alphabet::kStandard));
  EXPECT_TRUE(Base64DecodeUnpadded("a-b_", url).has_value());
}

TEST(CryptoTest, HexDecoding) {
  EXPECT_EQ(HexDecode("00fFa0").value(), std::string("\x00\xff\xa0", 3));
  EXPECT_FALSE(HexDecode("abc"));
  EXPECT_FALSE(HexDecode("zz"));
}

TEST(CryptoTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
}

TEST(CryptoTest, RandomBytesDiffer) {
  auto a = RandomBytes(16);
  auto b = RandomBytes(16);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 16u);
  EXPECT_NE(*a, *b);
}

}  // namespace
}  // namespace infer::crypto
