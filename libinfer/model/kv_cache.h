// The K/V cache of every layer in fixed-size blocks (a paged cache, as vLLM's PagedAttention).
//
// Block b of layer l holds `block_size` positions of one sequence, for every KV head:
// K and V each [num_kv_heads][block_size][head_dim] floats. Which sequence owns which block is
// the engine's business (libinfer/engine/block_manager.h); the forward pass only follows the
// block tables it is handed.
#ifndef INFER_MODEL_KV_CACHE_H_
#define INFER_MODEL_KV_CACHE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "libinfer/format/model_config.h"

namespace infer {

class PagedKvCache {
 public:
  // Bytes one block takes over all layers (K and V).
  static uint64_t BytesPerBlock(const ModelConfig& config, int64_t block_size);

  // Reserves `num_blocks` blocks. The memory is reserved, not touched: pages become resident as
  // positions are written. ResourceExhausted when it cannot be reserved.
  static absl::StatusOr<std::unique_ptr<PagedKvCache>> Create(const ModelConfig& config,
                                                              int64_t block_size,
                                                              int64_t num_blocks);

  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return num_blocks_; }
  uint64_t bytes() const { return static_cast<uint64_t>(data_size_) * sizeof(float); }
  // Layer `layer`'s K and V pools: [num_blocks][num_kv_heads][block_size][head_dim].
  float* k(int64_t layer) { return data_.get() + (2 * layer) * layer_floats_; }
  float* v(int64_t layer) { return data_.get() + (2 * layer + 1) * layer_floats_; }

 private:
  PagedKvCache() = default;

  int64_t block_size_ = 0;
  int64_t num_blocks_ = 0;
  int64_t layer_floats_ = 0;
  int64_t data_size_ = 0;
  std::unique_ptr<float[]> data_;
};

// A private cache for one sequence of up to `capacity` positions (Model::Generate and
// ComputeLogits): blocks of kDefaultKvBlockSize positions and the table naming them in order.
struct SequenceKvCache {
  static absl::StatusOr<SequenceKvCache> Create(const ModelConfig& config, int64_t capacity);

  std::unique_ptr<PagedKvCache> cache;
  std::vector<int32_t> block_table;
};

// Positions per KV block unless the Scheduler's options say otherwise (vLLM's default too).
inline constexpr int64_t kDefaultKvBlockSize = 16;

}  // namespace infer

#endif  // INFER_MODEL_KV_CACHE_H_
