// Reads files written by the reference Python writers (gguf-py, safetensors); see
// tests/data/format/make_fixtures.py for what they contain.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "libinfer/format/gguf.h"
#include "libinfer/format/gguf_config.h"
#include "libinfer/format/safetensors.h"
#include "libinfer/util/fp16.h"

namespace infer {
namespace {

std::string DataPath(const std::string& name) {
  return std::string(INFER_FORMAT_TEST_DATA) + "/" + name;
}

TEST(ReferenceFilesTest, GgufFromGgufPy) {
  auto f = GgufFile::Open(DataPath("tiny_llama.gguf"));
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufFile& g = **f;
  EXPECT_EQ(g.version(), 3u);
  EXPECT_EQ(*g.GetString("general.name"), "fixture");
  EXPECT_EQ(*g.GetString("test.str"), "h\xc3\xa9llo");
  EXPECT_EQ(*g.GetBool("test.flag"), true);
  EXPECT_EQ(*g.GetInt64("test.i64"), -7);
  EXPECT_EQ(*g.GetFloatArray("test.floats"), (std::vector<float>{0.5f, -1.25f}));
  EXPECT_EQ(*g.GetInt32Array("tokenizer.ggml.token_type"), (std::vector<int32_t>{3, 1, 1, 1}));
  EXPECT_EQ(*g.GetStringArray("tokenizer.ggml.tokens"),
            (std::vector<std::string_view>{"<s>", "a", "b", "ab"}));

  const TensorView* embd = g.FindTensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->dtype, DType::kF32);
  EXPECT_EQ(embd->shape, (std::vector<int64_t>{4, 64}));
  for (int i = 0; i < 256; ++i) {
    float v;
    std::memcpy(&v, embd->data + 4 * i, 4);
    ASSERT_EQ(v, static_cast<float>(i));
  }
  const TensorView* norm = g.FindTensor("blk.0.attn_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->dtype, DType::kF16);
  uint16_t h0, h63;
  std::memcpy(&h0, norm->data, 2);
  std::memcpy(&h63, norm->data + 126, 2);
  EXPECT_EQ(Fp16ToFp32(h0), -1.0f);
  EXPECT_EQ(Fp16ToFp32(h63), 1.0f);
  const TensorView* q = g.FindTensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dtype, DType::kQ8_0);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{2, 32}));
  ASSERT_EQ(q->nbytes, 68u);
  BlockQ8_0 blocks[2];
  std::memcpy(blocks, q->data, sizeof(blocks));
  EXPECT_EQ(Fp16ToFp32(blocks[1].d), 1.0f);
  EXPECT_EQ(blocks[1].qs[0], -16);
  EXPECT_EQ(blocks[1].qs[31], 15);

  auto c = ModelConfigFromGguf(g);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->vocab_size, 4);
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->num_kv_heads, 2);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_TRUE(c->tie_word_embeddings);
}

TEST(ReferenceFilesTest, SafetensorsFromPython) {
  auto f = SafetensorsFile::Open(DataPath("tiny.safetensors"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->metadata().at("format"), "np");
  const TensorView* a = (*f)->FindTensor("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::kF32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  float av[6];
  ASSERT_EQ(a->nbytes, sizeof(av));
  std::memcpy(av, a->data, sizeof(av));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(av[i], static_cast<float>(i));
  const TensorView* b = (*f)->FindTensor("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::kF16);
  uint16_t bv[2];
  std::memcpy(bv, b->data, 4);
  EXPECT_EQ(Fp16ToFp32(bv[0]), 1.5f);
  EXPECT_EQ(Fp16ToFp32(bv[1]), -2.0f);
}

}  // namespace
}  // namespace infer
