#include "libinfer/engine/block_manager.h"

#include <numeric>

#include "gtest/gtest.h"

namespace infer {
namespace {

std::vector<int32_t> Range(int32_t from, int32_t n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), from);
  return v;
}

// Publishes the full blocks of `tokens` held in `ids`, as the Scheduler does.
void PublishAll(BlockManager& m, const std::vector<int32_t>& ids, std::span<const int32_t> tokens) {
  uint64_t parent = 0;
  for (size_t b = 0; b < ids.size(); ++b) {
    auto content = tokens.subspan(b * m.block_size(), m.block_size());
    const uint64_t name = BlockManager::BlockName(parent, content);
    m.Publish(ids[b], name, parent, content);
    parent = name;
  }
}

TEST(BlockManagerTest, AllocatesUntilEmptyAndReleases) {
  BlockManager m(3, 4, true);
  EXPECT_EQ(m.num_available(), 3);
  auto a = m.Allocate(), b = m.Allocate(), c = m.Allocate();
  ASSERT_TRUE(a && b && c);
  EXPECT_FALSE(m.Allocate().has_value());
  EXPECT_EQ(m.num_held(), 3);
  m.Release(*b);
  EXPECT_EQ(m.num_available(), 1);
  EXPECT_EQ(m.Allocate(), b);
}

TEST(BlockManagerTest, SharesPublishedPrefixesWithReferenceCounts) {
  BlockManager m(8, 4, true);
  const std::vector<int32_t> tokens = Range(100, 10);  // two full blocks + 2
  std::vector<int32_t> ids = {*m.Allocate(), *m.Allocate(), *m.Allocate()};
  PublishAll(m, {ids[0], ids[1]}, tokens);
  // Another sequence with the same first 9 tokens matches both full blocks, held: none available.
  std::vector<int32_t> other(tokens.begin(), tokens.begin() + 9);
  BlockManager::PrefixMatch match = m.MatchPrefix(other, 10);
  EXPECT_EQ(match.blocks, 2);
  EXPECT_EQ(match.available, 0);
  std::vector<int32_t> got;
  std::vector<uint64_t> names;
  m.AcquirePrefix(other, 2, &got, &names);
  EXPECT_EQ(got, (std::vector<int32_t>{ids[0], ids[1]}));
  EXPECT_EQ(m.ref_count(ids[0]), 2);
  // A different second block matches only the first.
  std::vector<int32_t> diverging = tokens;
  diverging[5] = 7;
  EXPECT_EQ(m.MatchPrefix(diverging, 10).blocks, 1);
  // A different first block matches nothing, even with the same second block.
  std::vector<int32_t> different_start = tokens;
  different_start[0] = 7;
  EXPECT_EQ(m.MatchPrefix(different_start, 10).blocks, 0);
  // max_blocks bounds the match.
  EXPECT_EQ(m.MatchPrefix(tokens, 1).blocks, 1);
}

TEST(BlockManagerTest, ReleasedNamedBlocksStayCachedUntilEvictedLeastRecentFirst) {
  BlockManager m(3, 2, true);
  const std::vector<int32_t> a = {1, 2}, b = {3, 4};
  const int32_t ia = *m.Allocate(), ib = *m.Allocate();
  PublishAll(m, {ia}, a);
  PublishAll(m, {ib}, b);
  m.Release(ia);  // cached, least recent
  m.Release(ib);  // cached
  EXPECT_EQ(m.num_available(), 3);
  EXPECT_EQ(m.num_held(), 0);
  BlockManager::PrefixMatch match = m.MatchPrefix(b, 1);
  EXPECT_EQ(match.blocks, 1);
  EXPECT_EQ(match.available, 1);
  // The free block goes first, then the least recently released cached one (a).
  const int32_t free_block = *m.Allocate();
  EXPECT_NE(free_block, ia);
  EXPECT_NE(free_block, ib);
  EXPECT_EQ(*m.Allocate(), ia);
  EXPECT_EQ(m.MatchPrefix(a, 1).blocks, 0) << "evicted blocks lose their content's name";
  EXPECT_EQ(m.MatchPrefix(b, 1).blocks, 1);
  // Taking a cached block back makes it held, no longer evictable.
  std::vector<int32_t> got;
  std::vector<uint64_t> names;
  m.AcquirePrefix(b, 1, &got, &names);
  EXPECT_EQ(got, std::vector<int32_t>{ib});
  EXPECT_FALSE(m.Allocate().has_value());
}

TEST(BlockManagerTest, WithoutPrefixCachingNothingIsShared) {
  BlockManager m(2, 2, false);
  const std::vector<int32_t> a = {1, 2};
  const int32_t ia = *m.Allocate();
  PublishAll(m, {ia}, a);
  EXPECT_EQ(m.MatchPrefix(a, 1).blocks, 0);
  m.Release(ia);
  EXPECT_EQ(m.num_available(), 2);
}

}  // namespace
}  // namespace infer
