#include "libinfer/format/hf_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace infer {
namespace {

using ::testing::HasSubstr;

// Shaped like SmolLM2-135M's config.json.
constexpr char kLlama[] = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 49152,
  "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
  "num_attention_heads": 9, "num_key_value_heads": 3, "max_position_embeddings": 8192,
  "rms_norm_eps": 1e-05, "rope_theta": 100000, "rope_scaling": null,
  "tie_word_embeddings": true, "attention_bias": false, "torch_dtype": "bfloat16"})";

std::string Error(std::string_view json) {
  auto c = ModelConfigFromHfConfigJson(json, "config.json");
  EXPECT_FALSE(c.ok());
  return std::string(c.status().message());
}

TEST(HfConfigTest, Llama) {
  auto c = ModelConfigFromHfConfigJson(kLlama, "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->architecture, "llama");
  EXPECT_EQ(c->vocab_size, 49152);
  EXPECT_EQ(c->hidden_size, 576);
  EXPECT_EQ(c->intermediate_size, 1536);
  EXPECT_EQ(c->num_layers, 30);
  EXPECT_EQ(c->num_heads, 9);
  EXPECT_EQ(c->num_kv_heads, 3);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->rope_dim, 64);
  EXPECT_EQ(c->context_length, 8192);
  EXPECT_FLOAT_EQ(c->rms_norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c->rope_theta, 100000.0f);
  EXPECT_EQ(c->rope_scaling, RopeScalingType::kNone);
  EXPECT_FALSE(c->rope_interleaved);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->sliding_window, 0);
}

TEST(HfConfigTest, Llama3ScalingAndDefaults) {
  auto c = ModelConfigFromHfConfigJson(R"({"model_type": "llama", "vocab_size": 128256,
      "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
      "num_attention_heads": 32, "max_position_embeddings": 131072, "head_dim": 128,
      "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                       "original_max_position_embeddings": 8192, "rope_type": "llama3"}})",
                                       "c");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_kv_heads, 32);
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_FLOAT_EQ(c->rms_norm_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c->rope_theta, 10000.0f);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_EQ(c->rope_scaling, RopeScalingType::kLlama3);
  EXPECT_FLOAT_EQ(c->rope_scaling_factor, 8.0f);
  EXPECT_FLOAT_EQ(c->rope_low_freq_factor, 1.0f);
  EXPECT_FLOAT_EQ(c->rope_high_freq_factor, 4.0f);
  EXPECT_EQ(c->rope_original_context_length, 8192);
}

TEST(HfConfigTest, LinearScalingMistralQwen2) {
  auto lin = ModelConfigFromHfConfigJson(R"({"model_type": "llama", "vocab_size": 10,
      "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
      "num_attention_heads": 4, "max_position_embeddings": 64,
      "rope_scaling": {"type": "linear", "factor": 2}})",
                                         "c");
  ASSERT_TRUE(lin.ok()) << lin.status();
  EXPECT_EQ(lin->rope_scaling, RopeScalingType::kLinear);
  EXPECT_FLOAT_EQ(lin->rope_scaling_factor, 2.0f);

  auto mistral = ModelConfigFromHfConfigJson(R"({"model_type": "mistral", "vocab_size": 32000,
      "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
      "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 32768,
      "sliding_window": 4096, "rope_theta": 10000.0})",
                                             "c");
  ASSERT_TRUE(mistral.ok()) << mistral.status();
  EXPECT_EQ(mistral->sliding_window, 4096);
  EXPECT_EQ(mistral->num_kv_heads, 8);

  auto qwen = ModelConfigFromHfConfigJson(R"({"model_type": "qwen2", "vocab_size": 151936,
      "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
      "num_attention_heads": 14, "num_key_value_heads": 2, "max_position_embeddings": 32768,
      "sliding_window": 32768, "use_sliding_window": false, "rope_theta": 1000000.0,
      "rms_norm_eps": 1e-06, "tie_word_embeddings": true})",
                                          "c");
  ASSERT_TRUE(qwen.ok()) << qwen.status();
  EXPECT_TRUE(qwen->attention_bias);
  EXPECT_EQ(qwen->sliding_window, 0);
  EXPECT_EQ(qwen->head_dim, 64);
  EXPECT_FALSE(qwen->rope_interleaved);
}

TEST(HfConfigTest, ErrorsNameTheField) {
  EXPECT_THAT(Error("{"), HasSubstr("config.json: invalid JSON"));
  EXPECT_THAT(Error("[]"), HasSubstr("expected a JSON object"));
  EXPECT_THAT(Error(R"({"model_type": "gpt2"})"),
              HasSubstr("model_type: unsupported value 'gpt2' (expected llama, mistral, qwen2, "
                        "qwen3, gemma2, gemma3 or phi3)"));
  EXPECT_THAT(
      std::string(
          ModelConfigFromHfConfigJson(R"({"model_type": "gemma2"})", "m").status().message()),
      HasSubstr("'gemma2': Hugging Face checkpoints of this family are not supported"));
  EXPECT_THAT(Error(R"({"vocab_size": 3})"), HasSubstr("model_type: missing"));
  EXPECT_THAT(Error(R"({"model_type": "llama", "vocab_size": 3})"),
              HasSubstr("config.json: hidden_size: missing"));
  EXPECT_THAT(Error(R"({"model_type": "llama", "vocab_size": "3"})"),
              HasSubstr("vocab_size: expected an integer, got string"));
  const std::string base = R"("model_type": "llama", "vocab_size": 10, "hidden_size": 64,
      "intermediate_size": 128, "num_hidden_layers": 1, "max_position_embeddings": 64)";
  EXPECT_THAT(Error("{" + base + R"(, "num_attention_heads": 6, "num_key_value_heads": 4})"),
              HasSubstr("hidden_size: 64 is not a multiple of num_attention_heads (6)"));
  EXPECT_THAT(Error("{" + base + R"(, "num_attention_heads": 4, "num_key_value_heads": 3})"),
              HasSubstr("num_heads (4) is not a multiple of num_kv_heads (3)"));
  EXPECT_THAT(Error("{" + base + R"(, "num_attention_heads": 4, "head_dim": 15})"),
              HasSubstr("config.json: head_dim (15) is odd"));
  EXPECT_THAT(Error("{" + base + R"(, "num_attention_heads": 0})"),
              HasSubstr("num_attention_heads: must be positive"));
  EXPECT_THAT(Error("{" + base + R"(, "num_attention_heads": 4, "rms_norm_eps": -1})"),
              HasSubstr("rms_norm_eps is -1"));
  EXPECT_THAT(Error("{" + base + R"(, "num_attention_heads": 4,
                    "rope_scaling": {"rope_type": "yarn", "factor": 4}})"),
              HasSubstr("rope_scaling.rope_type: unsupported value 'yarn'"));
  EXPECT_THAT(Error("{" + base + R"(, "num_attention_heads": 4,
                    "rope_scaling": {"rope_type": "linear"}})"),
              HasSubstr("rope_scaling.factor: missing"));
  EXPECT_THAT(Error("{" + base + R"(, "num_attention_heads": 4,
                    "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 4,
                    "high_freq_factor": 1, "original_max_position_embeddings": 8192}})"),
              HasSubstr("llama3 rope scaling needs"));
  EXPECT_THAT(Error("{" + base + R"(, "num_attention_heads": 4, "tie_word_embeddings": 1})"),
              HasSubstr("tie_word_embeddings: expected a bool"));
  EXPECT_THAT(Error(R"({"model_type": "llama", "vocab_size": 0, "hidden_size": 64,
      "intermediate_size": 128, "num_hidden_layers": 1, "max_position_embeddings": 64,
      "num_attention_heads": 4})"),
              HasSubstr("vocab_size is 0"));
}

TEST(HfConfigTest, FromFile) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / "SmolLM2-135M";
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir / "config.json");
    out << kLlama;
  }
  auto c = ModelConfigFromHfConfigFile((dir / "config.json").string());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name, "SmolLM2-135M");
  EXPECT_EQ(c->num_layers, 30);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(ModelConfigFromHfConfigFile((dir / "config.json").string()).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace infer
