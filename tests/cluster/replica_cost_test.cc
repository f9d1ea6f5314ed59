// The cost of a replica, against the model file's own tensor table: one rank holds every
// tensor once (a tied head reads the embedding's pages, counted once); tensor-parallel ranks
// hold their KV-head and FFN shares, the largest of them counted; pipeline stages their layers.
#include "libinfer/cluster/replica_cost.h"

#include <unistd.h>
#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/tiny_model.h"

namespace infer::cluster {
namespace {

using ::testing::HasSubstr;

class ReplicaCostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("infer_replica_cost_" + std::to_string(getpid()) + ".gguf"))
                .string();
    shape_.hidden = 96;
    shape_.heads = 6;
    shape_.kv_heads = 3;
    shape_.ff = 192;
    shape_.layers = 3;
    testing::WriteTinyModel(path_, shape_);
    auto files = OpenModelFiles(path_);
    ASSERT_TRUE(files.ok()) << files.status();
    files_ = *std::move(files);
  }
  void TearDown() override { std::filesystem::remove(path_); }

  // The RoPE frequencies every runner computes and keeps (F32): not a tensor of the file.
  uint64_t Rope() const { return static_cast<uint64_t>(files_.config.rope_dim / 2) * 4; }

  // Bytes of the named tensor in the file.
  uint64_t Bytes(const std::string& name) const {
    const TensorView* t = files_.weights->Find(name);
    EXPECT_NE(t, nullptr) << name;
    return t == nullptr ? 0 : t->nbytes;
  }

  std::string path_;
  testing::TinyModelShape shape_;
  LoadedModelFiles files_;
};

TEST_F(ReplicaCostTest, OneRankHoldsEveryTensorOnce) {
  ASSERT_EQ(files_.weights->Find("output.weight"), nullptr) << "the tiny model ties its head";
  uint64_t total = 0;
  for (const TensorView* t : files_.weights->All()) total += t->nbytes;  // F32: copies equal
  ReplicaCostOptions o;
  o.kv_cache_bytes = 8 << 20;
  auto cost = ComputeReplicaCost(files_.config, *files_.weights, o);
  ASSERT_TRUE(cost.ok()) << cost.status();
  EXPECT_EQ(cost->weights, total + Rope());
  EXPECT_EQ(cost->kv_cache, 8u << 20);
  // The tokenizer's 320 bytes and 64 samplers' 8 bytes per vocabulary entry.
  EXPECT_EQ(cost->runtime,
            o.runtime_bytes + (320 + 64 * 8) * static_cast<uint64_t>(files_.config.vocab_size));
  EXPECT_GT(cost->activations, 0u);
  EXPECT_EQ(cost->computed, cost->weights + cost->kv_cache + cost->activations + cost->runtime);
  EXPECT_EQ(cost->per_rank, cost->computed);
  EXPECT_THAT(cost->Describe(), HasSubstr("KV cache 8.0 MiB"));
}

TEST_F(ReplicaCostTest, ActivationsHoldLogitsOnlyForTheSequencesOfAStep) {
  // The output head runs on one row per sequence of a step, not on every token.
  ReplicaCostOptions o;
  o.max_num_batched_tokens = 256;
  o.max_num_seqs = 1;
  auto one = ComputeReplicaCost(files_.config, *files_.weights, o);
  o.max_num_seqs = 8;
  auto eight = ComputeReplicaCost(files_.config, *files_.weights, o);
  o.max_num_seqs = 1000;  // never more rows than tokens
  auto all = ComputeReplicaCost(files_.config, *files_.weights, o);
  ASSERT_TRUE(one.ok() && eight.ok() && all.ok());
  const uint64_t row = static_cast<uint64_t>(files_.config.vocab_size) * sizeof(float);
  EXPECT_EQ(eight->activations - one->activations, 7 * row);
  EXPECT_EQ(all->activations - one->activations, 255 * row);
}

TEST_F(ReplicaCostTest, TensorParallelRanksHoldTheirShares) {
  // TP=2 over 3 KV heads: rank 1 holds 2 of them, and half the FFN; the embedding whole (the
  // head's vocabulary rows lie inside it).
  const int64_t h = shape_.hidden, ff = shape_.ff, head_dim = shape_.hidden / shape_.heads;
  const int64_t kv_share = 2, q_share = kv_share * (shape_.heads / shape_.kv_heads);
  const uint64_t f32 = 4;
  uint64_t want = Bytes("token_embd.weight") + Bytes("output_norm.weight") + Rope();
  for (int l = 0; l < shape_.layers; ++l) {
    want += 2 * h * f32;                        // attn_norm, ffn_norm
    want += q_share * head_dim * h * f32 * 2;   // q rows, o columns
    want += kv_share * head_dim * h * f32 * 2;  // k, v rows
    want += (ff / 2) * h * f32 * 3;             // gate, up rows, down columns
  }
  ReplicaCostOptions o;
  o.tensor_parallel = 2;
  auto cost = ComputeReplicaCost(files_.config, *files_.weights, o);
  ASSERT_TRUE(cost.ok()) << cost.status();
  EXPECT_EQ(cost->weights, want);
  EXPECT_EQ(cost->ranks, 2);
  EXPECT_THAT(cost->Describe(), HasSubstr("on each of 2 devices"));
}

TEST_F(ReplicaCostTest, PipelineStagesHoldTheirLayers) {
  ReplicaCostOptions whole;
  auto one = ComputeReplicaCost(files_.config, *files_.weights, whole);
  ReplicaCostOptions o;
  o.pipeline_parallel = 3;  // one layer each
  auto three = ComputeReplicaCost(files_.config, *files_.weights, o);
  ASSERT_TRUE(one.ok() && three.ok()) << three.status();
  const uint64_t layer = Bytes("blk.0.attn_q.weight") + Bytes("blk.0.attn_k.weight") +
                         Bytes("blk.0.attn_v.weight") + Bytes("blk.0.attn_output.weight") +
                         Bytes("blk.0.ffn_gate.weight") + Bytes("blk.0.ffn_up.weight") +
                         Bytes("blk.0.ffn_down.weight") + Bytes("blk.0.attn_norm.weight") +
                         Bytes("blk.0.ffn_norm.weight");
  // The largest stage: the first (embedding + a layer) or the last (a layer + the head's norm
  // + the tied head, which there is not inside an embedding of its own: counted).
  const uint64_t first = Bytes("token_embd.weight") + layer;
  const uint64_t last = layer + Bytes("output_norm.weight") + Bytes("token_embd.weight");
  EXPECT_EQ(three->weights, std::max(first, last) + Rope());
  EXPECT_LT(three->weights, one->weights);
}

TEST_F(ReplicaCostTest, DeclaredFiguresRaiseButNeverLower) {
  ReplicaCostOptions o;
  o.declared_bytes = uint64_t{4} << 30;
  auto cost = ComputeReplicaCost(files_.config, *files_.weights, o);
  ASSERT_TRUE(cost.ok());
  EXPECT_EQ(cost->per_rank, o.declared_bytes);
  EXPECT_THAT(cost->Describe(), HasSubstr("declared 4.00 GiB, which is reserved"));
  o.declared_bytes = 1;
  cost = ComputeReplicaCost(files_.config, *files_.weights, o);
  ASSERT_TRUE(cost.ok());
  EXPECT_EQ(cost->per_rank, cost->computed);
}

TEST_F(ReplicaCostTest, LayoutsThatDoNotFitAreRefused) {
  ReplicaCostOptions o;
  o.tensor_parallel = 4;  // more ranks than the 3 KV heads
  EXPECT_THAT(ComputeReplicaCost(files_.config, *files_.weights, o).status().message(),
              HasSubstr("exceeds the model's 3 KV heads"));
  o.tensor_parallel = 1;
  o.pipeline_parallel = 4;
  EXPECT_THAT(ComputeReplicaCost(files_.config, *files_.weights, o).status().message(),
              HasSubstr("exceeds the model's 3 layers"));
}

}  // namespace
}  // namespace infer::cluster
