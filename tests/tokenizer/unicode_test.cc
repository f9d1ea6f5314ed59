// UTF-8 helpers, Unicode classes and the pre-tokenizer scanners on hand-derived splits (the
// scanners are checked against HF `tokenizers` on a corpus by test_tokenizer_reference.py).
#include "libinfer/util/unicode.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libinfer/tokenizer/pre_tokenizer.h"

namespace infer {
namespace {

using ::testing::ElementsAre;

TEST(UnicodeTest, Classes) {
  EXPECT_EQ(CodePointClass('A'), kCpLetter);
  EXPECT_EQ(CodePointClass(0x42F), kCpLetter);   // Я
  EXPECT_EQ(CodePointClass(0x4E2D), kCpLetter);  // 中
  EXPECT_EQ(CodePointClass('7'), kCpNumber);
  EXPECT_EQ(CodePointClass(0x663), kCpNumber);   // Arabic-Indic three
  EXPECT_EQ(CodePointClass(0xBD), kCpNumber);    // ½ (No)
  EXPECT_EQ(CodePointClass(0x216B), kCpNumber);  // Ⅻ (Nl)
  EXPECT_EQ(CodePointClass(0x3000), kCpWhitespace);
  EXPECT_EQ(CodePointClass(0xA0), kCpWhitespace);
  EXPECT_EQ(CodePointClass('\n'), kCpWhitespace);
  EXPECT_EQ(CodePointClass(0x200B), 0);  // zero width space is not White_Space
  EXPECT_EQ(CodePointClass(0x1F600), 0);
  EXPECT_EQ(CodePointClass('-'), 0);
  EXPECT_EQ(CodePointClass(0x301), 0);  // combining mark (Mn)
}

TEST(UnicodeTest, DecodeAndValidate) {
  uint32_t cp = 0;
  EXPECT_EQ(DecodeUtf8("\xF0\x9F\x98\x80", &cp), 4);
  EXPECT_EQ(cp, 0x1F600u);
  EXPECT_EQ(DecodeUtf8("\xE2\x82", &cp), 0);      // truncated
  EXPECT_EQ(DecodeUtf8("\xE0\x80\xAF", &cp), 0);  // overlong
  EXPECT_EQ(DecodeUtf8("\xED\xB0\x80", &cp), 0);  // surrogate
  EXPECT_EQ(FindInvalidUtf8("ok \xD0\x9F\xD1\x80"), std::string_view::npos);
  EXPECT_EQ(FindInvalidUtf8("ok \x80"), 3u);
  std::string s;
  AppendUtf8(0x1F600, &s);
  AppendUtf8(0x44F, &s);
  EXPECT_EQ(s, "\xF0\x9F\x98\x80\xD1\x8F");
}

std::vector<std::string> Split(PreTokenizerKind kind, std::string_view text) {
  std::vector<std::string_view> pieces;
  PreTokenize(kind, text, &pieces);
  return {pieces.begin(), pieces.end()};
}

TEST(PreTokenizerTest, Gpt2) {
  EXPECT_THAT(Split(PreTokenizerKind::kGpt2, "Hello world's  end"),
              ElementsAre("Hello", " world", "'s", " ", " end"));
  EXPECT_THAT(Split(PreTokenizerKind::kGpt2, "I'M 2024!? \n"),
              ElementsAre("I", "'", "M", " 2024", "!?", " \n"));
}

TEST(PreTokenizerTest, SmolLmIsolatesDigits) {
  EXPECT_THAT(Split(PreTokenizerKind::kSmolLm, "abc 123x"),
              ElementsAre("abc", " ", "1", "2", "3", "x"));
}

TEST(PreTokenizerTest, Llama3) {
  EXPECT_THAT(Split(PreTokenizerKind::kLlama3, "ABC1234567 ok\n\n  x"),
              ElementsAre("ABC", "123", "456", "7", " ok", "\n\n", " ", " x"));
  EXPECT_THAT(Split(PreTokenizerKind::kLlama3, "I'M (hi) ...\n"),
              ElementsAre("I", "'M", " (", "hi", ")", " ...\n"));
}

TEST(PreTokenizerTest, Qwen2SingleDigits) {
  EXPECT_THAT(Split(PreTokenizerKind::kQwen2, "a 123"), ElementsAre("a", " ", "1", "2", "3"));
}

TEST(PreTokenizerTest, Names) {
  EXPECT_EQ(*PreTokenizerFromName(""), PreTokenizerKind::kGpt2);
  EXPECT_EQ(*PreTokenizerFromName("smollm"), PreTokenizerKind::kSmolLm);
  EXPECT_EQ(*PreTokenizerFromName("llama-bpe"), PreTokenizerKind::kLlama3);
  EXPECT_EQ(*PreTokenizerFromName("qwen2"), PreTokenizerKind::kQwen2);
  EXPECT_FALSE(PreTokenizerFromName("falcon").ok());
}

}  // namespace
}  // namespace infer
