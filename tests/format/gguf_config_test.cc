#include "libinfer/format/gguf_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tests/format/gguf_test_writer.h"

namespace infer {
namespace {

using testing::GgufBuilder;
using ::testing::HasSubstr;
using testing::Pattern;

// A tiny llama-style header: 2 layers, hidden 64, 4 heads, 2 kv heads, vocab 3.
GgufBuilder TinyLlama(const std::string& arch = "llama") {
  GgufBuilder b;
  b.KvString("general.architecture", arch)
      .KvString("general.name", "tiny")
      .Kv<uint32_t>(arch + ".context_length", testing::kTU32, 256)
      .Kv<uint32_t>(arch + ".embedding_length", testing::kTU32, 64)
      .Kv<uint32_t>(arch + ".feed_forward_length", testing::kTU32, 128)
      .Kv<uint32_t>(arch + ".block_count", testing::kTU32, 2)
      .Kv<uint32_t>(arch + ".attention.head_count", testing::kTU32, 4)
      .Kv<uint32_t>(arch + ".attention.head_count_kv", testing::kTU32, 2)
      .Kv<float>(arch + ".attention.layer_norm_rms_epsilon", testing::kTF32, 1e-6f)
      .Kv<float>(arch + ".rope.freq_base", testing::kTF32, 500000.0f)
      .KvStringArray("tokenizer.ggml.tokens", {"a", "b", "c"});
  return b;
}

absl::StatusOr<ModelConfig> ConfigOf(const GgufBuilder& b, std::vector<uint8_t>* storage) {
  *storage = b.Build();
  auto f = GgufFile::Parse(std::span<const uint8_t>(storage->data(), storage->size()), "m.gguf");
  if (!f.ok()) return f.status();
  return ModelConfigFromGguf(**f);
}

TEST(GgufConfigTest, TinyLlama) {
  std::vector<uint8_t> storage;
  GgufBuilder b = TinyLlama();
  b.Tensor({"token_embd.weight", 0, {64, 3}, Pattern(64 * 3 * 4)});
  auto c = ConfigOf(b, &storage);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, "llama");
  EXPECT_EQ(c->name, "tiny");
  EXPECT_EQ(c->vocab_size, 3);
  EXPECT_EQ(c->hidden_size, 64);
  EXPECT_EQ(c->intermediate_size, 128);
  EXPECT_EQ(c->num_layers, 2);
  EXPECT_EQ(c->num_heads, 4);
  EXPECT_EQ(c->num_kv_heads, 2);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->rope_dim, 16);
  EXPECT_EQ(c->context_length, 256);
  EXPECT_FLOAT_EQ(c->rms_norm_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c->rope_theta, 500000.0f);
  EXPECT_TRUE(c->rope_interleaved);
  EXPECT_TRUE(c->tie_word_embeddings);  // no output.weight
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->rope_scaling, RopeScalingType::kNone);
  EXPECT_TRUE(c->rope_freq_factors_tensor.empty());
  EXPECT_EQ(c->file_type, "");  // no general.file_type
}

// Gemma's interleaved windows and soft caps: the family's defaults where the file is silent,
// the file's values where it states them.
TEST(GgufConfigTest, GemmaWindowsAndCaps) {
  {
    std::vector<uint8_t> storage;
    GgufBuilder b = TinyLlama("gemma2");
    b.Tensor({"token_embd.weight", 0, {64, 3}, Pattern(64 * 3 * 4)});
    auto c = ConfigOf(b, &storage);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->sliding_window, 4096);
    EXPECT_EQ(c->sliding_window_pattern, 2);
    EXPECT_FLOAT_EQ(c->rope_theta_swa, 500000.0f);  // the global base
    EXPECT_FLOAT_EQ(c->attn_logit_softcap, 50.0f);
    EXPECT_FLOAT_EQ(c->final_logit_softcap, 30.0f);
    EXPECT_FALSE(c->rope_interleaved);
  }
  {
    std::vector<uint8_t> storage;
    GgufBuilder b = TinyLlama("gemma3");
    b.Kv<uint32_t>("gemma3.attention.sliding_window", testing::kTU32, 512)
        .Kv<float>("gemma3.rope.freq_base_swa", testing::kTF32, 20000.0f)
        .Kv<float>("gemma3.final_logit_softcapping", testing::kTF32, 12.5f);
    b.Tensor({"token_embd.weight", 0, {64, 3}, Pattern(64 * 3 * 4)});
    auto c = ConfigOf(b, &storage);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->sliding_window, 512);
    EXPECT_EQ(c->sliding_window_pattern, 6);
    EXPECT_FLOAT_EQ(c->rope_theta_swa, 20000.0f);
    EXPECT_FLOAT_EQ(c->attn_logit_softcap, 0.0f);
    EXPECT_FLOAT_EQ(c->final_logit_softcap, 12.5f);
  }
  {
    // A Llama file's window-like keys are not read.
    std::vector<uint8_t> storage;
    GgufBuilder b = TinyLlama();
    b.Kv<uint32_t>("llama.attention.sliding_window", testing::kTU32, 512);
    b.Tensor({"token_embd.weight", 0, {64, 3}, Pattern(64 * 3 * 4)});
    auto c = ConfigOf(b, &storage);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->sliding_window, 0);
    EXPECT_FLOAT_EQ(c->final_logit_softcap, 0.0f);
  }
  {
    std::vector<uint8_t> storage;
    GgufBuilder b = TinyLlama("gemma2");
    b.Kv<float>("gemma2.attn_logit_softcapping", testing::kTF32, -1.0f);
    b.Tensor({"token_embd.weight", 0, {64, 3}, Pattern(64 * 3 * 4)});
    auto c = ConfigOf(b, &storage);
    ASSERT_FALSE(c.ok());
    EXPECT_THAT(std::string(c.status().message()), HasSubstr("attn_logit_softcapping is -1"));
  }
}

// LongRoPE: the long factors beyond the original context, the short ones within it (or when the
// file states no original context), and the attention factor.
TEST(GgufConfigTest, Phi3LongRopeFactors) {
  for (const auto& [original, want] :
       std::vector<std::pair<uint32_t, std::string>>{{64, "rope_factors_long.weight"},
                                                     {256, "rope_factors_short.weight"},
                                                     {0, "rope_factors_short.weight"}}) {
    std::vector<uint8_t> storage;
    GgufBuilder b = TinyLlama("phi3");  // context_length 256
    if (original > 0) {
      b.Kv<uint32_t>("phi3.rope.scaling.original_context_length", testing::kTU32, original);
    }
    b.Kv<float>("phi3.rope.scaling.attn_factor", testing::kTF32, 1.19f);
    b.Tensor({"token_embd.weight", 0, {64, 3}, Pattern(64 * 3 * 4)})
        .Tensor({"rope_factors_long.weight", 0, {8}, Pattern(32)})
        .Tensor({"rope_factors_short.weight", 0, {8}, Pattern(32)});
    auto c = ConfigOf(b, &storage);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->rope_freq_factors_tensor, want) << "original " << original;
    EXPECT_FLOAT_EQ(c->rope_attn_factor, 1.19f);
  }
}

TEST(GgufConfigTest, FileTypeNamesTheMix) {
  for (const auto& [code, name] : std::vector<std::pair<uint32_t, std::string>>{
           {15, "Q4_K_M"}, {18, "Q6_K"}, {30, "IQ4_XS"}, {7, "Q8_0"}, {99, "ftype 99"}}) {
    std::vector<uint8_t> storage;
    GgufBuilder b = TinyLlama();
    b.Kv<uint32_t>("general.file_type", testing::kTU32, code);
    b.Tensor({"token_embd.weight", 0, {64, 3}, Pattern(64 * 3 * 4)});
    auto c = ConfigOf(b, &storage);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->file_type, name);
  }
}

TEST(GgufConfigTest, Qwen2BiasOutputAndScaling) {
  std::vector<uint8_t> storage;
  GgufBuilder b = TinyLlama("qwen2");
  b.KvString("qwen2.rope.scaling.type", "linear")
      .Kv<float>("qwen2.rope.scaling.factor", testing::kTF32, 4.0f)
      .Kv<uint32_t>("qwen2.vocab_size", testing::kTU32, 5);
  b.Tensor({"output.weight", 0, {64, 5}, Pattern(64 * 5 * 4)})
      .Tensor({"blk.0.attn_q.bias", 0, {64}, Pattern(256)})
      .Tensor({"rope_freqs.weight", 0, {8}, Pattern(32)});
  auto c = ConfigOf(b, &storage);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->vocab_size, 5);  // <arch>.vocab_size wins over the token list
  EXPECT_FALSE(c->rope_interleaved);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_TRUE(c->attention_bias);
  EXPECT_EQ(c->rope_scaling, RopeScalingType::kLinear);
  EXPECT_FLOAT_EQ(c->rope_scaling_factor, 4.0f);
  EXPECT_EQ(c->rope_freq_factors_tensor, "rope_freqs.weight");
}

TEST(GgufConfigTest, VocabFromEmbeddingRows) {
  std::vector<uint8_t> storage;
  GgufBuilder b;
  b.KvString("general.architecture", "mistral")
      .Kv<uint32_t>("mistral.context_length", testing::kTU32, 32)
      .Kv<uint32_t>("mistral.embedding_length", testing::kTU32, 32)
      .Kv<uint32_t>("mistral.feed_forward_length", testing::kTU32, 64)
      .Kv<uint32_t>("mistral.block_count", testing::kTU32, 1)
      .Kv<uint32_t>("mistral.attention.head_count", testing::kTU32, 2)
      .Kv<uint32_t>("mistral.rope.dimension_count", testing::kTU32, 8);
  b.Tensor({"token_embd.weight", 8, {32, 7}, Pattern(34 * 7)});
  auto c = ConfigOf(b, &storage);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->vocab_size, 7);
  EXPECT_EQ(c->num_kv_heads, 2);  // defaults to head_count
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->rope_dim, 8);
  EXPECT_FLOAT_EQ(c->rms_norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c->rope_theta, 10000.0f);
  EXPECT_TRUE(c->rope_interleaved);
}

TEST(GgufConfigTest, ErrorsNameTheKey) {
  std::vector<uint8_t> storage;
  {
    GgufBuilder b = TinyLlama();
    b.Kv<uint32_t>("llama.attention.head_count_kv", testing::kTU32, 3);  // duplicate key
    EXPECT_THAT(std::string(ConfigOf(b, &storage).status().message()), HasSubstr("duplicate"));
  }
  {
    GgufBuilder b;
    b.KvString("general.architecture", "llama")
        .Kv<uint32_t>("llama.context_length", testing::kTU32, 32)
        .Kv<uint32_t>("llama.embedding_length", testing::kTU32, 60)
        .Kv<uint32_t>("llama.feed_forward_length", testing::kTU32, 64)
        .Kv<uint32_t>("llama.block_count", testing::kTU32, 1)
        .Kv<uint32_t>("llama.attention.head_count", testing::kTU32, 6)
        .Kv<uint32_t>("llama.attention.head_count_kv", testing::kTU32, 4)
        .KvStringArray("tokenizer.ggml.tokens", {"a"});
    auto c = ConfigOf(b, &storage);
    EXPECT_THAT(std::string(c.status().message()),
                HasSubstr("m.gguf: num_heads (6) is not a multiple of num_kv_heads (4)"));
  }
  {
    GgufBuilder b;
    b.KvString("general.architecture", "llama");
    auto c = ConfigOf(b, &storage);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(std::string(c.status().message()), HasSubstr("'llama.context_length'"));
  }
  {
    GgufBuilder b;
    b.KvString("general.architecture", "gpt2");
    EXPECT_THAT(std::string(ConfigOf(b, &storage).status().message()),
                HasSubstr("key 'general.architecture': unsupported value 'gpt2' (expected "
                          "llama, mistral, qwen2, qwen3, gemma2, gemma3 or phi3)"));
  }
  {
    GgufBuilder b = TinyLlama();
    b.KvString("llama.block_count_x", "y").Kv<int32_t>("llama.vocab_size", testing::kTI32, -1);
    EXPECT_THAT(std::string(ConfigOf(b, &storage).status().message()),
                HasSubstr("key 'llama.vocab_size': is -1"));
  }
  {
    GgufBuilder b = TinyLlama();
    b.KvString("llama.rope.scaling.type", "yarn");
    EXPECT_THAT(std::string(ConfigOf(b, &storage).status().message()),
                HasSubstr("'llama.rope.scaling.type': unsupported value 'yarn'"));
  }
  {
    GgufBuilder b = TinyLlama();
    b.Tensor({"token_embd.weight", 0, {32, 3}, Pattern(32 * 3 * 4)});
    EXPECT_THAT(std::string(ConfigOf(b, &storage).status().message()),
                HasSubstr("tensor 'token_embd.weight': shape [3, 32] (expected [3, 64]"));
  }
  {
    GgufBuilder b = TinyLlama();
    b.KvString("llama.embedding_length_str", "x");
    b.Kv<float>("llama.rope.dimension_count", testing::kTF32, 3.0f);
    EXPECT_THAT(std::string(ConfigOf(b, &storage).status().message()),
                HasSubstr("'llama.rope.dimension_count': expected an integer"));
  }
}

// The real SmolLM2-135M-Instruct Q4_1 file, when the environment points at it.
TEST(GgufConfigTest, SmolLM2) {
  const char* path = std::getenv("INFER_SMOLLM2_GGUF");
  if (path == nullptr || *path == '\0') {
    GTEST_SKIP() << "set INFER_SMOLLM2_GGUF to the SmolLM2-135M-Instruct.Q4_1.gguf path to run";
  }
  auto f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  const GgufFile& g = **f;
  EXPECT_EQ(g.version(), 3u);
  auto c = ModelConfigFromGguf(g);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, "llama");
  EXPECT_EQ(c->num_layers, 30);
  EXPECT_EQ(c->hidden_size, 576);
  EXPECT_EQ(c->intermediate_size, 1536);
  EXPECT_EQ(c->num_heads, 9);
  EXPECT_EQ(c->num_kv_heads, 3);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->rope_dim, 64);
  EXPECT_EQ(c->vocab_size, 49152);
  EXPECT_EQ(c->context_length, 8192);
  EXPECT_FLOAT_EQ(c->rope_theta, 100000.0f);
  EXPECT_FLOAT_EQ(c->rms_norm_eps, 1e-5f);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_TRUE(c->rope_interleaved);
  EXPECT_EQ(c->file_type, "Q4_1");

  EXPECT_EQ(g.tensors().size(), 272u);  // 30 layers x 9 + token_embd + output_norm
  const TensorView* embd = g.FindTensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->dtype, DType::kQ8_0);
  EXPECT_EQ(embd->shape, (std::vector<int64_t>{49152, 576}));
  EXPECT_EQ(embd->nbytes, size_t{49152} * 576 / 32 * 34);
  const TensorView* q = g.FindTensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dtype, DType::kQ4_1);
  EXPECT_EQ(q->shape, (std::vector<int64_t>{576, 576}));
  const TensorView* k = g.FindTensor("blk.29.attn_k.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->dtype, DType::kQ4_1);
  EXPECT_EQ(k->shape, (std::vector<int64_t>{192, 576}));
  const TensorView* down = g.FindTensor("blk.3.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->shape, (std::vector<int64_t>{576, 1536}));
  const TensorView* norm = g.FindTensor("output_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->dtype, DType::kF32);
  auto tokens = g.GetStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens->size(), 49152u);
  EXPECT_EQ(*g.GetString("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(*g.GetString("tokenizer.ggml.pre"), "smollm");
}

}  // namespace
}  // namespace infer
