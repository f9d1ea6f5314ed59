// StreamDecoder over a byte-level vocabulary where every byte is its own token: characters split
// across tokens are held back until complete, invalid bytes become U+FFFD.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "infer/tokenizer.h"
#include "libinfer/tokenizer/bpe_tokenizer.h"
#include "libinfer/tokenizer/tokenizer_spec.h"
#include "libinfer/util/unicode.h"

namespace infer {
namespace {

using ::testing::ElementsAre;

constexpr const char* kReplacement = "\xEF\xBF\xBD";

class StreamDecoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TokenizerSpec spec;
    spec.model = "gpt2";
    for (int b = 0; b < 256; ++b) {
      std::string s;
      AppendUtf8(ByteToUnicode(static_cast<uint8_t>(b)), &s);
      spec.tokens.push_back(s);
    }
    spec.tokens.push_back("<|im_end|>");
    spec.token_types.assign(256, TokenType::kNormal);
    spec.token_types.push_back(TokenType::kControl);
    auto tok = CreateTokenizer(spec);
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = *std::move(tok);
  }

  // Pushes each byte of `bytes` as a token; returns what each Push emitted.
  std::vector<std::string> PushBytes(StreamDecoder& d, std::string_view bytes) {
    std::vector<std::string> out;
    for (char c : bytes) out.push_back(d.Push(static_cast<uint8_t>(c)));
    return out;
  }

  std::unique_ptr<Tokenizer> tokenizer_;
};

TEST_F(StreamDecoderTest, HoldsSplitCharacters) {
  StreamDecoder d(*tokenizer_);
  EXPECT_THAT(PushBytes(d,
                        "a\xD0\x9F"
                        "b"),
              ElementsAre("a", "", "\xD0\x9F", "b"));
  EXPECT_EQ(d.Flush(), "");
}

TEST_F(StreamDecoderTest, EmojiOverFourTokens) {
  StreamDecoder d(*tokenizer_);
  EXPECT_THAT(PushBytes(d, "\xF0\x9F\x98\x80"), ElementsAre("", "", "", "\xF0\x9F\x98\x80"));
  // A ZWJ sequence comes out character by character, never half of one.
  const std::string family = "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9";
  std::string joined;
  for (const std::string& piece : PushBytes(d, family)) {
    EXPECT_EQ(FindInvalidUtf8(piece), std::string_view::npos);
    joined += piece;
  }
  EXPECT_EQ(joined, family);
}

TEST_F(StreamDecoderTest, TruncatedTailFlushesAsReplacement) {
  StreamDecoder d(*tokenizer_);
  EXPECT_THAT(PushBytes(d, "ok\xF0\x9F\x98"), ElementsAre("o", "k", "", "", ""));
  EXPECT_EQ(d.Flush(), kReplacement);
  EXPECT_EQ(d.Flush(), "");
}

TEST_F(StreamDecoderTest, InvalidBytesAreReplacedAtOnce) {
  StreamDecoder d(*tokenizer_);
  EXPECT_THAT(PushBytes(d,
                        "\xFF"
                        "a"),
              ElementsAre(kReplacement, "a"));
  // A lead byte followed by a non-continuation: the lead is bad, the next byte is kept.
  EXPECT_THAT(PushBytes(d,
                        "\xE4"
                        "b"),
              ElementsAre("", std::string(kReplacement) + "b"));
  // A surrogate prefix can never complete.
  EXPECT_THAT(PushBytes(d, "\xED\xA0"), ElementsAre("", std::string(kReplacement) + kReplacement));
}

TEST_F(StreamDecoderTest, SkipsControlTokensAndBadIds) {
  StreamDecoder d(*tokenizer_);
  EXPECT_EQ(d.Push(256), "");
  EXPECT_EQ(d.Push(-5), "");
  EXPECT_EQ(d.Push(1000), "");
  EXPECT_EQ(d.Push(' '), " ");  // no leading-space rule for byte-level BPE
}

}  // namespace
}  // namespace infer
