// The leader's commands: round trips, and refusals of every malformed payload.
#include "libinfer/cluster/step_protocol.h"

#include "gtest/gtest.h"

namespace infer::cluster {
namespace {

TEST(StepProtocolTest, ForwardRoundTrip) {
  const std::vector<int32_t> table_a = {4, 5, 6};
  const std::vector<int32_t> table_b = {9};
  ForwardBatch batch;
  batch.tokens = {1, 2, 3, 7};
  batch.sequences.push_back({table_a, 30, 3, 1});
  batch.sequences.push_back({table_b, 2, 1, 1});
  const std::vector<uint8_t> bytes = Encode(42, batch);
  ForwardCommand got;
  ASSERT_TRUE(DecodeForward(bytes, &got).ok());
  EXPECT_EQ(got.cache_id, 42u);
  EXPECT_EQ(got.batch.tokens, batch.tokens);
  ASSERT_EQ(got.batch.sequences.size(), 2u);
  EXPECT_EQ(std::vector<int32_t>(got.batch.sequences[0].block_table.begin(),
                                 got.batch.sequences[0].block_table.end()),
            table_a);
  EXPECT_EQ(got.batch.sequences[0].start_pos, 30);
  EXPECT_EQ(got.batch.sequences[1].num_tokens, 1);
  // Every truncation, and a trailing byte, is an error.
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeForward(std::span<const uint8_t>(bytes.data(), n), &got).ok()) << n;
  }
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  EXPECT_FALSE(DecodeForward(longer, &got).ok());
  // Counts far beyond the bytes are refused before anything is allocated.
  std::vector<uint8_t> huge = bytes;
  huge[8] = 0xff;
  huge[15] = 0x7f;
  EXPECT_FALSE(DecodeForward(huge, &got).ok());
}

TEST(StepProtocolTest, HeaderAndPayloads) {
  auto h = DecodeHeader(EncodeHeader({CommandKind::kForward, 100}), 1000);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->kind, CommandKind::kForward);
  EXPECT_EQ(h->payload_bytes, 100u);
  EXPECT_FALSE(DecodeHeader(EncodeHeader({CommandKind::kForward, 1001}), 1000).ok());
  auto bad = EncodeHeader({CommandKind::kPing, 0});
  bad[0] = 99;
  EXPECT_FALSE(DecodeHeader(bad, 1000).ok());
  EXPECT_FALSE(DecodeHeader(std::span<const uint8_t>(bad.data(), 3), 1000).ok());

  auto load = DecodeLoad(Encode(LoadCommand{"/models/a.gguf"}));
  ASSERT_TRUE(load.ok());
  EXPECT_EQ(load->path, "/models/a.gguf");
  auto cache = DecodeCache(Encode(CacheCommand{3, 16, 100}));
  ASSERT_TRUE(cache.ok());
  EXPECT_EQ(cache->num_blocks, 100);
  EXPECT_FALSE(DecodeCache(std::vector<uint8_t>(23)).ok());
}

}  // namespace
}  // namespace infer::cluster
