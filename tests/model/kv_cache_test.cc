// The KV cache's sizes: one definition of a block's bytes, by element type, and the host cache's
// checks.
#include "libinfer/model/kv_cache.h"

#include "gtest/gtest.h"

namespace infer {
namespace {

TEST(KvCacheShapeTest, BytesPerBlockCountsKAndVInTheShapesType) {
  KvCacheShape s{30, 3, 64, DType::kF32};
  // K and V, 30 layers, 3 heads, 16 positions, 64 dims, 4 bytes.
  EXPECT_EQ(s.BytesPerBlock(16), 2ull * 30 * 3 * 16 * 64 * 4);
  s.dtype = DType::kF16;
  EXPECT_EQ(s.BytesPerBlock(16), 2ull * 30 * 3 * 16 * 64 * 2);
  s.num_layers = 0;  // a stage that holds no layer
  EXPECT_EQ(s.BytesPerBlock(16), 0u);
}

TEST(KvCacheShapeTest, WholeModelShapeIsEveryLayerAndKvHead) {
  ModelConfig c;
  c.num_layers = 30;
  c.num_kv_heads = 3;
  c.head_dim = 64;
  const KvCacheShape s = WholeModelKvShape(c);
  EXPECT_EQ(s.num_layers, 30);
  EXPECT_EQ(s.num_kv_heads, 3);
  EXPECT_EQ(s.head_dim, 64);
  EXPECT_EQ(s.dtype, kHostKvDType);
}

TEST(KvCacheShapeTest, BlocksForRoundsUp) {
  EXPECT_EQ(BlocksFor(0, 16), 0);
  EXPECT_EQ(BlocksFor(1, 16), 1);
  EXPECT_EQ(BlocksFor(16, 16), 1);
  EXPECT_EQ(BlocksFor(17, 16), 2);
}

TEST(PagedKvCacheTest, HoldsWhatItsShapeSaysAndRefusesOtherTypes) {
  const KvCacheShape s{2, 3, 8, kHostKvDType};
  std::unique_ptr<Backend> cpu = CreateCpuBackend();
  auto cache = PagedKvCache::Create(*cpu, s, 4, 5);
  ASSERT_TRUE(cache.ok()) << cache.status();
  EXPECT_EQ((*cache)->bytes(), 5 * s.BytesPerBlock(4));
  // Layer 1's V pool ends where the cache ends.
  const auto* start = static_cast<const char*>((*cache)->k(0));
  EXPECT_EQ(static_cast<const char*>((*cache)->v(1)) + 5 * 3 * 4 * 8 * sizeof(float),
            start + (*cache)->bytes());
  EXPECT_EQ((*cache)->backend(), cpu.get());
  EXPECT_EQ((*cache)->paged(), cache->get());

  // F16: half the bytes, the same layout of elements.
  auto f16 = PagedKvCache::Create(*cpu, {2, 3, 8, DType::kF16}, 4, 5);
  ASSERT_TRUE(f16.ok()) << f16.status();
  EXPECT_EQ((*f16)->bytes(), (*cache)->bytes() / 2);
  EXPECT_EQ(static_cast<const char*>((*f16)->v(1)) + 5 * 3 * 4 * 8 * 2,
            static_cast<const char*>((*f16)->k(0)) + (*f16)->bytes());

  auto bf16 = PagedKvCache::Create(*cpu, {2, 3, 8, DType::kBF16}, 4, 5);
  EXPECT_EQ(bf16.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bf16.status().message().find("BF16"), std::string::npos) << bf16.status();
  EXPECT_EQ(PagedKvCache::Create(*cpu, s, 0, 5).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace infer
