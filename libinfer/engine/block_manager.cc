#include "libinfer/engine/block_manager.h"

#include <algorithm>

#include "absl/hash/hash.h"

namespace infer {

BlockManager::BlockManager(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching)
    : block_size_(block_size),
      prefix_caching_(enable_prefix_caching),
      blocks_(static_cast<size_t>(num_blocks)) {
  // Handed out lowest id first (pop from the back).
  free_.reserve(blocks_.size());
  for (int64_t i = num_blocks - 1; i >= 0; --i) free_.push_back(static_cast<int32_t>(i));
  num_free_ = num_blocks;
}

uint64_t BlockManager::BlockName(uint64_t parent, std::span<const int32_t> tokens) {
  // 0 is reserved for "no parent"; a name is never 0.
  const uint64_t h = absl::HashOf(parent, absl::MakeConstSpan(tokens.data(), tokens.size()));
  return h == 0 ? 1 : h;
}

std::optional<int32_t> BlockManager::Find(uint64_t parent, std::span<const int32_t> tokens) const {
  const auto it = by_name_.find(BlockName(parent, tokens));
  if (it == by_name_.end()) return std::nullopt;
  const Block& b = blocks_[it->second];
  if (b.parent != parent ||
      !std::equal(b.tokens.begin(), b.tokens.end(), tokens.begin(), tokens.end())) {
    return std::nullopt;
  }
  return it->second;
}

BlockManager::PrefixMatch BlockManager::MatchPrefix(std::span<const int32_t> tokens,
                                                    int64_t max_blocks) const {
  PrefixMatch m;
  if (!prefix_caching_) return m;
  uint64_t parent = 0;
  const int64_t full = std::min<int64_t>(max_blocks, tokens.size() / block_size_);
  for (int64_t b = 0; b < full; ++b) {
    const auto block = tokens.subspan(b * block_size_, block_size_);
    const std::optional<int32_t> id = Find(parent, block);
    if (!id) break;
    ++m.blocks;
    if (blocks_[*id].refs == 0) ++m.available;
    parent = blocks_[*id].name;
  }
  return m;
}

void BlockManager::AcquirePrefix(std::span<const int32_t> tokens, int64_t count,
                                 std::vector<int32_t>* ids, std::vector<uint64_t>* names) {
  uint64_t parent = 0;
  for (int64_t b = 0; b < count; ++b) {
    const std::optional<int32_t> id = Find(parent, tokens.subspan(b * block_size_, block_size_));
    if (!id) return;  // the caller's count came from MatchPrefix: cannot happen
    Block& block = blocks_[*id];
    if (block.refs == 0) lru_.erase(block.lru_it);
    ++block.refs;
    ids->push_back(*id);
    names->push_back(block.name);
    parent = block.name;
  }
}

std::optional<int32_t> BlockManager::Allocate() {
  int32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
    --num_free_;
  } else if (!lru_.empty()) {
    id = lru_.front();
    lru_.pop_front();
    Forget(id);
  } else {
    return std::nullopt;
  }
  blocks_[id].refs = 1;
  return id;
}

void BlockManager::Forget(int32_t id) {
  Block& b = blocks_[id];
  if (!b.named) return;
  const auto it = by_name_.find(b.name);
  if (it != by_name_.end() && it->second == id) by_name_.erase(it);
  b.named = false;
  b.tokens.clear();
}

void BlockManager::Release(int32_t id) {
  Block& b = blocks_[id];
  if (b.refs <= 0) return;
  if (--b.refs > 0) return;
  if (b.named) {
    lru_.push_back(id);
    b.lru_it = std::prev(lru_.end());
  } else {
    free_.push_back(id);
    ++num_free_;
  }
}

void BlockManager::Publish(int32_t id, uint64_t name, uint64_t parent,
                           std::span<const int32_t> tokens) {
  if (!prefix_caching_) return;
  Block& b = blocks_[id];
  if (b.named || by_name_.contains(name)) return;
  b.named = true;
  b.name = name;
  b.parent = parent;
  b.tokens.assign(tokens.begin(), tokens.end());
  by_name_.emplace(name, id);
}

}  // namespace infer
