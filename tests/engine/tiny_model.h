// A tiny random Llama in GGUF (F32 weights, byte-level BPE vocabulary of the 256 bytes plus
// <|endoftext|>), written by the tests themselves for the engine's tests.
#ifndef INFER_TESTS_ENGINE_TINY_MODEL_H_
#define INFER_TESTS_ENGINE_TINY_MODEL_H_

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tests/format/gguf_test_writer.h"

namespace infer::testing {

struct TinyModelShape {
  int64_t hidden = 64;
  int64_t heads = 4;
  int64_t kv_heads = 2;
  int64_t ff = 128;
  int64_t layers = 2;
  int64_t context = 2048;
};

// GPT-2's byte-to-character table, as UTF-8 strings.
inline std::vector<std::string> ByteLevelTokens() {
  std::vector<std::string> out(256);
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    const uint32_t cp = printable ? static_cast<uint32_t>(b) : 256u + extra++;
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    out[b] = s;
  }
  return out;
}

// Writes the model to `path`; weights drawn from N(0, 1/sqrt(fan_in)) with `seed`.
inline void WriteTinyModel(const std::string& path, const TinyModelShape& s = {},
                           uint32_t seed = 1) {
  std::mt19937 rng(seed);
  const int64_t head_dim = s.hidden / s.heads;
  const int64_t q_dim = s.heads * head_dim;
  const int64_t kv_dim = s.kv_heads * head_dim;
  std::vector<std::string> tokens = ByteLevelTokens();
  tokens.push_back("<|endoftext|>");
  const int64_t vocab = static_cast<int64_t>(tokens.size());
  std::vector<int32_t> types(tokens.size(), 1);
  types.back() = 3;  // control

  GgufBuilder b;
  b.KvString("general.architecture", "llama");
  b.KvString("general.name", "tiny-test");
  b.Kv<uint32_t>("llama.context_length", kTU32, static_cast<uint32_t>(s.context));
  b.Kv<uint32_t>("llama.embedding_length", kTU32, static_cast<uint32_t>(s.hidden));
  b.Kv<uint32_t>("llama.feed_forward_length", kTU32, static_cast<uint32_t>(s.ff));
  b.Kv<uint32_t>("llama.block_count", kTU32, static_cast<uint32_t>(s.layers));
  b.Kv<uint32_t>("llama.attention.head_count", kTU32, static_cast<uint32_t>(s.heads));
  b.Kv<uint32_t>("llama.attention.head_count_kv", kTU32, static_cast<uint32_t>(s.kv_heads));
  b.Kv<float>("llama.attention.layer_norm_rms_epsilon", kTF32, 1e-5f);
  b.Kv<float>("llama.rope.freq_base", kTF32, 10000.0f);
  b.KvString("tokenizer.ggml.model", "gpt2");
  b.KvString("tokenizer.ggml.pre", "smollm");
  b.KvStringArray("tokenizer.ggml.tokens", tokens);
  b.KvArray<int32_t>("tokenizer.ggml.token_type", kTI32, types);
  b.Kv<uint32_t>("tokenizer.ggml.eos_token_id", kTU32, static_cast<uint32_t>(vocab - 1));
  b.Kv<uint32_t>("tokenizer.ggml.bos_token_id", kTU32, static_cast<uint32_t>(vocab - 1));
  b.Kv<bool>("tokenizer.ggml.add_bos_token", kTBool, false);

  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols, float scale) {
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<uint8_t> data(static_cast<size_t>(rows * cols) * 4);
    for (int64_t i = 0; i < rows * cols; ++i) {
      const float v = dist(rng);
      std::memcpy(&data[static_cast<size_t>(i) * 4], &v, 4);
    }
    b.Tensor(GgufTestTensor(name, 0, {static_cast<uint64_t>(cols), static_cast<uint64_t>(rows)},
                            std::move(data)));
  };
  auto norm = [&](const std::string& name, int64_t n) {
    std::uniform_real_distribution<float> dist(0.8f, 1.2f);
    std::vector<uint8_t> data(static_cast<size_t>(n) * 4);
    for (int64_t i = 0; i < n; ++i) {
      const float v = dist(rng);
      std::memcpy(&data[static_cast<size_t>(i) * 4], &v, 4);
    }
    b.Tensor(GgufTestTensor(name, 0, {static_cast<uint64_t>(n)}, std::move(data)));
  };
  const float in_scale = 1.0f / std::sqrt(static_cast<float>(s.hidden));
  matrix("token_embd.weight", vocab, s.hidden, 1.0f);
  norm("output_norm.weight", s.hidden);
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    norm(p + "attn_norm.weight", s.hidden);
    matrix(p + "attn_q.weight", q_dim, s.hidden, in_scale);
    matrix(p + "attn_k.weight", kv_dim, s.hidden, in_scale);
    matrix(p + "attn_v.weight", kv_dim, s.hidden, in_scale);
    matrix(p + "attn_output.weight", s.hidden, q_dim, 1.0f / std::sqrt(static_cast<float>(q_dim)));
    norm(p + "ffn_norm.weight", s.hidden);
    matrix(p + "ffn_gate.weight", s.ff, s.hidden, in_scale);
    matrix(p + "ffn_up.weight", s.ff, s.hidden, in_scale);
    matrix(p + "ffn_down.weight", s.hidden, s.ff, 1.0f / std::sqrt(static_cast<float>(s.ff)));
  }
  const std::vector<uint8_t> bytes = b.Build();
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

}  // namespace infer::testing

#endif  // INFER_TESTS_ENGINE_TINY_MODEL_H_
