// KV cache blocks: who holds which, which are free, and which hold a known prefix.
//
// A block is free (no holder, no cached content), cached (no holder, but its content is a known
// full block of tokens that a later request may reuse), or held by one or more sequences
// (reference-counted: a shared prefix block has one holder per sequence). Free and cached
// blocks can both be handed out; cached ones go least recently released first, and lose their
// cached identity then (LRU eviction).
//
// Prefix identity: block i of a sequence is named by hash(name of block i-1, its tokens), so a
// name stands for the whole prefix up to the block's end. Lookups compare the block's tokens and
// its parent's name too; two different prefixes with equal 64-bit names would still be
// confused, with probability ~2^-64 per pair. Not thread-safe: the Scheduler's thread owns it.
#ifndef INFER_ENGINE_BLOCK_MANAGER_H_
#define INFER_ENGINE_BLOCK_MANAGER_H_

#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace infer {

class BlockManager {
 public:
  BlockManager(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching);

  int64_t num_blocks() const { return static_cast<int64_t>(blocks_.size()); }
  int64_t block_size() const { return block_size_; }
  // Blocks that Allocate can hand out now (free + cached).
  int64_t num_available() const { return num_free_ + static_cast<int64_t>(lru_.size()); }
  // Blocks held by at least one sequence.
  int64_t num_held() const { return num_blocks() - num_available(); }

  // Name of the full block `tokens` (block_size tokens) following the block named `parent`
  // (0 for the first block).
  static uint64_t BlockName(uint64_t parent, std::span<const int32_t> tokens);

  // How many leading full blocks of `tokens` are cached or held with that content, and how many
  // of those are now counted as available (taking them makes them unavailable). Changes nothing.
  struct PrefixMatch {
    int64_t blocks = 0;
    int64_t available = 0;
  };
  PrefixMatch MatchPrefix(std::span<const int32_t> tokens, int64_t max_blocks) const;

  // Takes a reference on each of the first `count` matching blocks (count <= a MatchPrefix
  // result made since the last change) and appends their ids and names.
  void AcquirePrefix(std::span<const int32_t> tokens, int64_t count, std::vector<int32_t>* ids,
                     std::vector<uint64_t>* names);

  // A block with one holder, or nullopt when none is available.
  std::optional<int32_t> Allocate();

  // Drops one holder's reference. A block without holders becomes cached if it was named
  // (Publish) and prefix caching is on, free otherwise.
  void Release(int32_t id);

  // Records that held block `id` now holds the full block named `name` (parent `parent`,
  // contents `tokens`). No effect when prefix caching is off or another block already has it.
  void Publish(int32_t id, uint64_t name, uint64_t parent, std::span<const int32_t> tokens);

  int32_t ref_count(int32_t id) const { return blocks_[id].refs; }

 private:
  struct Block {
    int32_t refs = 0;
    bool named = false;
    uint64_t name = 0;
    uint64_t parent = 0;
    std::vector<int32_t> tokens;          // the content, to confirm a name match
    std::list<int32_t>::iterator lru_it;  // valid while cached (refs == 0 and named)
  };

  std::optional<int32_t> Find(uint64_t parent, std::span<const int32_t> tokens) const;
  void Forget(int32_t id);  // drops a cached block's name

  int64_t block_size_;
  bool prefix_caching_;
  std::vector<Block> blocks_;
  std::vector<int32_t> free_;  // neither held nor named
  int64_t num_free_ = 0;
  std::list<int32_t> lru_;  // cached blocks, least recently released first
  absl::flat_hash_map<uint64_t, int32_t> by_name_;
};

}  // namespace infer

#endif  // INFER_ENGINE_BLOCK_MANAGER_H_
