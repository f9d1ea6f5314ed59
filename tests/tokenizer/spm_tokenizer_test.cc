// SentencePiece: the hand-encoded ModelProto round-trips, a GGUF-style vocabulary (tokens,
// scores, types) rebuilds into a BPE model with byte fallback, and decoding follows
// SentencePiece's rules. (test_tokenizer_reference.py compares against the sentencepiece package.)
#include "libinfer/tokenizer/spm_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "absl/strings/str_format.h"
#include "libinfer/tokenizer/spm_model_proto.h"
#include "libinfer/tokenizer/tokenizer_spec.h"

namespace infer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// <unk> <s> </s>, 256 byte pieces (ids 3..258), then pieces merged in score order.
TokenizerSpec LlamaStyleSpec() {
  TokenizerSpec spec;
  spec.model = "llama";
  auto add = [&](std::string text, float score, TokenType type) {
    spec.tokens.push_back(std::move(text));
    spec.scores.push_back(score);
    spec.token_types.push_back(type);
  };
  add("<unk>", 0, TokenType::kUnknown);
  add("<s>", 0, TokenType::kControl);
  add("</s>", 0, TokenType::kControl);
  for (int b = 0; b < 256; ++b) add(absl::StrFormat("<0x%02X>", b), 0, TokenType::kByte);
  // 259.. : merged pieces, best first; then the single characters.
  add("\xE2\x96\x81h", -1, TokenType::kNormal);                 // 259 ▁h
  add("ll", -2, TokenType::kNormal);                            // 260
  add("\xE2\x96\x81he", -3, TokenType::kNormal);                // 261
  add("\xE2\x96\x81hell", -4, TokenType::kNormal);              // 262
  add("\xE2\x96\x81hello", -5, TokenType::kNormal);             // 263
  for (const char* c : {"\xE2\x96\x81", "h", "e", "l", "o"}) {  // 264..268
    add(c, -10, TokenType::kNormal);
  }
  spec.unk_id = 0;
  spec.bos_id = 1;
  spec.eos_id = 2;
  spec.add_bos = true;
  return spec;
}

TEST(SpmModelProtoTest, SerializeParseRoundTrip) {
  const TokenizerSpec spec = LlamaStyleSpec();
  const SpmModel model = SpmModelFromSpec(spec);
  const std::string bytes = SerializeSpmModel(model);
  auto parsed = ParseSpmModel(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->pieces.size(), spec.tokens.size());
  for (size_t i = 0; i < spec.tokens.size(); ++i) {
    EXPECT_EQ(parsed->pieces[i].text, spec.tokens[i]);
    EXPECT_EQ(parsed->pieces[i].score, spec.scores[i]);
    EXPECT_EQ(parsed->pieces[i].type, spec.token_types[i]);
  }
  EXPECT_EQ(parsed->model_type, 2);
  EXPECT_TRUE(parsed->byte_fallback);
  EXPECT_EQ(parsed->normalizer_name, "identity");
  EXPECT_TRUE(parsed->add_dummy_prefix);
  EXPECT_FALSE(parsed->remove_extra_whitespaces);
  EXPECT_EQ(parsed->unk_id, 0);
  EXPECT_EQ(parsed->pad_id, -1);  // negative int32 survives the 10-byte varint
}

TEST(SpmModelProtoTest, RejectsTruncatedBytes) {
  const std::string bytes = SerializeSpmModel(SpmModelFromSpec(LlamaStyleSpec()));
  EXPECT_FALSE(ParseSpmModel(bytes.substr(0, bytes.size() / 2 + 1)).ok());
}

TEST(SpmTokenizerTest, RebuiltVocabularyEncodes) {
  auto tok = CreateTokenizer(LlamaStyleSpec());
  ASSERT_TRUE(tok.ok()) << tok.status();
  // Dummy prefix, merges in score order, then byte fallback for "é" (C3 A9) and "!".
  EXPECT_THAT(*(*tok)->Encode("hello"), ElementsAre(1, 263));
  EXPECT_THAT(*(*tok)->Encode("hello \xC3\xA9!"),
              ElementsAre(1, 263, 264, 3 + 0xC3, 3 + 0xA9, 3 + '!'));
  EXPECT_THAT(*(*tok)->Encode("<s>hello"), ElementsAre(1, 1, 263));
}

TEST(SpmTokenizerTest, DecodeDropsDummyPrefixAndMapsBytes) {
  auto tok = CreateTokenizer(LlamaStyleSpec());
  ASSERT_TRUE(tok.ok()) << tok.status();
  const std::vector<TokenId> ids = {1, 263, 264, 3 + 0xC3, 3 + 0xA9, 2};
  EXPECT_EQ(*(*tok)->Decode(ids), "hello \xC3\xA9");
  EXPECT_EQ(*(*tok)->Decode(ids, /*keep_special=*/true), "<s>hello \xC3\xA9</s>");
  EXPECT_EQ((*tok)->TokenBytes(3 + 0x41), "A");
  EXPECT_EQ((*tok)->TokenBytes(263), " hello");
  EXPECT_EQ((*tok)->TokenBytes(1), "");
  // The stream decoder applies the same start rule and waits for the second byte of "é".
  StreamDecoder stream(**tok);
  std::vector<std::string> out;
  for (TokenId id : ids) out.push_back(stream.Push(id));
  EXPECT_THAT(out, ElementsAre("", "hello", " ", "", "\xC3\xA9", ""));
  EXPECT_EQ(stream.Flush(), "");
}

TEST(SpmTokenizerTest, BadSpecs) {
  TokenizerSpec spec = LlamaStyleSpec();
  spec.scores.pop_back();
  EXPECT_THAT(std::string(CreateTokenizer(spec).status().message()), HasSubstr("`scores`"));
  spec = LlamaStyleSpec();
  spec.spm_model_proto = "\x0a\xff";  // a length past the end
  EXPECT_EQ(CreateTokenizer(spec).status().code(), absl::StatusCode::kInvalidArgument);
  spec = LlamaStyleSpec();
  spec.eos_id = -1;
  spec.add_eos = true;
  EXPECT_THAT(std::string(CreateTokenizer(spec).status().message()), HasSubstr("add_eos"));
}

}  // namespace
}  // namespace infer
