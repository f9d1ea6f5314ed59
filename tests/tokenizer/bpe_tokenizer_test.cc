// Byte-level BPE: merge order, special tokens, BOS rule, UTF-8 validation and spec errors, on a
// small hand-made vocabulary (the real vocabularies are checked against HF `tokenizers` by
// test_tokenizer_reference.py).
#include "libinfer/tokenizer/bpe_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "libinfer/tokenizer/tokenizer_spec.h"
#include "libinfer/util/unicode.h"

namespace infer {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ByteChar(uint8_t b) {
  std::string s;
  AppendUtf8(ByteToUnicode(b), &s);
  return s;
}

// 256 byte tokens (ids 0..255), then `extra` tokens, then three control tokens.
TokenizerSpec MakeSpec(std::vector<std::string> extra, std::vector<std::string> merges) {
  TokenizerSpec spec;
  spec.model = "gpt2";
  for (int b = 0; b < 256; ++b) spec.tokens.push_back(ByteChar(static_cast<uint8_t>(b)));
  for (auto& t : extra) spec.tokens.push_back(t);
  spec.token_types.assign(spec.tokens.size(), TokenType::kNormal);
  for (const char* s : {"<|im_start|>", "<|im_end|>", "<s>"}) {
    spec.tokens.push_back(s);
    spec.token_types.push_back(TokenType::kControl);
  }
  spec.merges = std::move(merges);
  spec.bos_id = static_cast<TokenId>(spec.tokens.size()) - 1;
  spec.eos_id = spec.bos_id - 1;
  return spec;
}

std::unique_ptr<Tokenizer> Make(const TokenizerSpec& spec) {
  auto tok = CreateTokenizer(spec);
  EXPECT_TRUE(tok.ok()) << tok.status();
  return tok.ok() ? *std::move(tok) : nullptr;
}

TEST(ByteToUnicodeTest, MatchesGpt2Table) {
  EXPECT_EQ(ByteToUnicode('a'), 'a');
  EXPECT_EQ(ByteToUnicode('!'), '!');
  EXPECT_EQ(ByteToUnicode(' '), 0x120u);   // "Ġ"
  EXPECT_EQ(ByteToUnicode('\n'), 0x10Au);  // "Ċ"
  EXPECT_EQ(ByteToUnicode(0x00), 0x100u);
  EXPECT_EQ(ByteToUnicode(0x7F), 0x121u);
  EXPECT_EQ(ByteToUnicode(0xAD), 0x143u);
  EXPECT_EQ(ByteToUnicode(0xFF), 0xFFu);
}

TEST(BpeTokenizerTest, MergesApplyInRankOrder) {
  // "abc": with "a b" first we get ab|c; with "b c" first, a|bc.
  auto ab_first = Make(MakeSpec({"ab", "bc"}, {"a b", "b c"}));
  auto bc_first = Make(MakeSpec({"ab", "bc"}, {"b c", "a b"}));
  ASSERT_NE(ab_first, nullptr);
  ASSERT_NE(bc_first, nullptr);
  EXPECT_THAT(*ab_first->Encode("abc"), ElementsAre(256, 'c'));
  EXPECT_THAT(*bc_first->Encode("abc"), ElementsAre('a', 257));
}

TEST(BpeTokenizerTest, MergesChainIntoWords) {
  auto tok = Make(MakeSpec({"ll", "he", "hell", "hello", ByteChar(' ') + "w"},
                           {"l l", "h e", "he ll", "hell o", ByteChar(' ') + " w"}));
  ASSERT_NE(tok, nullptr);
  // Pre-tokenized as "hello", " world": the second word only merges "Ġw".
  EXPECT_THAT(*tok->Encode("hello world"), ElementsAre(259, 260, 'o', 'r', 'l', 'd'));
  EXPECT_EQ(*tok->Decode(std::vector<TokenId>{259, 260, 'o'}), "hello wo");
  EXPECT_EQ(tok->TokenText(260), "\xC4\xA0w");
  EXPECT_EQ(tok->TokenBytes(260), " w");
}

TEST(BpeTokenizerTest, SplitsSpecialTokensFirst) {
  auto tok = Make(MakeSpec({}, {}));
  ASSERT_NE(tok, nullptr);
  const TokenId start = 256, end = 257;
  EXPECT_THAT(*tok->Encode("<|im_start|>hi<|im_end|>"), ElementsAre(start, 'h', 'i', end));
  EncodeOptions plain;
  plain.parse_special = false;
  auto ids = *tok->Encode("<|im_start|>hi", plain);
  EXPECT_EQ(ids.size(), 14u);
  EXPECT_THAT(ids, Not(Contains(start)));
  // Control tokens decode to nothing unless asked for.
  const std::vector<TokenId> seq = {start, 'h', end};
  EXPECT_EQ(*tok->Decode(seq), "h");
  EXPECT_EQ(*tok->Decode(seq, /*keep_special=*/true), "<|im_start|>h<|im_end|>");
  EXPECT_TRUE(tok->IsEndOfGeneration(end));
  EXPECT_FALSE(tok->IsEndOfGeneration(start));
  EXPECT_TRUE(tok->IsSpecial(start));
  EXPECT_FALSE(tok->IsSpecial('h'));
}

TEST(BpeTokenizerTest, BosFollowsSpecAndOptions) {
  TokenizerSpec spec = MakeSpec({}, {});
  auto no_bos = Make(spec);
  spec.add_bos = true;
  auto with_bos = Make(spec);
  ASSERT_NE(no_bos, nullptr);
  ASSERT_NE(with_bos, nullptr);
  const TokenId bos = spec.bos_id;
  EXPECT_THAT(*no_bos->Encode("a"), ElementsAre('a'));
  EXPECT_THAT(*with_bos->Encode("a"), ElementsAre(bos, 'a'));
  EncodeOptions off;
  off.add_bos = false;
  EXPECT_THAT(*with_bos->Encode("a", off), ElementsAre('a'));
  EXPECT_THAT(*with_bos->Encode(""), ElementsAre(bos));
  EXPECT_EQ(with_bos->bos_id(), bos);
}

TEST(BpeTokenizerTest, RejectsInvalidUtf8WithOffset) {
  auto tok = Make(MakeSpec({}, {}));
  ASSERT_NE(tok, nullptr);
  struct Case {
    std::string text;
    const char* offset;
  } cases[] = {{"ab\xC3(", "offset 2"},          {"abc\xF0\x9F\x98", "offset 3"},
               {"\xC0\xAF", "offset 0"},         {"ok \xED\xA0\x80", "offset 3"},
               {"\xF4\x90\x80\x80", "offset 0"}, {"x\xFF", "offset 1"}};
  for (const auto& c : cases) {
    auto ids = tok->Encode(c.text);
    ASSERT_FALSE(ids.ok()) << c.text;
    EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(ids.status().message()), HasSubstr(c.offset));
  }
  EXPECT_TRUE(tok->Encode("h\xC3\xA9 \xF0\x9F\x98\x80").ok());
}

TEST(BpeTokenizerTest, DecodeRejectsIdsOutOfRange) {
  auto tok = Make(MakeSpec({}, {}));
  ASSERT_NE(tok, nullptr);
  const std::vector<TokenId> bad = {'a', tok->vocab_size()};
  EXPECT_EQ(tok->Decode(bad).status().code(), absl::StatusCode::kOutOfRange);
  const std::vector<TokenId> negative = {-1};
  EXPECT_EQ(tok->Decode(negative).status().code(), absl::StatusCode::kOutOfRange);
}

absl::Status CreateError(const TokenizerSpec& spec) { return CreateTokenizer(spec).status(); }

TEST(BpeTokenizerTest, BadSpecsGiveClearErrors) {
  TokenizerSpec spec = MakeSpec({"ab"}, {"a b"});
  ASSERT_TRUE(CreateError(spec).ok());

  TokenizerSpec s = spec;
  s.scores = {1.0f, 2.0f};
  EXPECT_THAT(std::string(CreateError(s).message()), HasSubstr("`scores` has 2 entries"));
  s = spec;
  s.token_types.pop_back();
  EXPECT_THAT(std::string(CreateError(s).message()), HasSubstr("`token_types`"));
  s = spec;
  s.merges.push_back("a zz");
  EXPECT_THAT(std::string(CreateError(s).message()),
              HasSubstr("merges[1] = \"a zz\" uses \"zz\", which is not in the vocabulary"));
  s = spec;
  s.merges.push_back("b c");  // "bc" itself is missing
  EXPECT_THAT(std::string(CreateError(s).message()), HasSubstr("\"bc\""));
  s = spec;
  s.merges.push_back("abc");
  EXPECT_THAT(std::string(CreateError(s).message()), HasSubstr("not two tokens"));
  s = spec;
  s.bos_id = 100000;
  EXPECT_THAT(std::string(CreateError(s).message()), HasSubstr("bos_id = 100000"));
  s = spec;
  s.pre = "no-such-pre";
  EXPECT_THAT(std::string(CreateError(s).message()), HasSubstr("no-such-pre"));
  s = spec;
  s.model = "wordpiece";
  EXPECT_THAT(std::string(CreateError(s).message()), HasSubstr("unsupported model"));
  s = spec;
  s.tokens.clear();
  s.token_types.clear();
  s.bos_id = s.eos_id = -1;
  EXPECT_THAT(std::string(CreateError(s).message()), HasSubstr("`tokens` is empty"));
  for (const auto& e : {CreateError(s)}) EXPECT_EQ(e.code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infer
