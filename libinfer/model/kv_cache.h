// The K/V cache of a runner's layers in fixed-size blocks (a paged cache, as vLLM's
// PagedAttention), behind one interface so that a device runner can keep its cache in device
// memory and a cluster's leader can stand for the caches that its ranks hold.
//
// Which sequence owns which block is the engine's business (libinfer/engine/block_manager.h);
// the forward pass only follows the block tables it is handed (ForwardBatch, packed flat).
#ifndef INFER_MODEL_KV_CACHE_H_
#define INFER_MODEL_KV_CACHE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "libinfer/backend/backend.h"
#include "libinfer/format/model_config.h"
#include "libinfer/tensor/dtype.h"

namespace infer {

class PagedKvCache;

// A paged KV cache of `num_blocks()` blocks of `block_size()` positions. Created by a
// ModelRunner (ModelRunner::CreateKvCache), which alone knows the layout of its blocks.
class KvCache {
 public:
  virtual ~KvCache() = default;
  virtual int64_t block_size() const = 0;
  virtual int64_t num_blocks() const = 0;
  // Bytes this process holds for the cache (a cluster leader counts only its own rank's part).
  virtual uint64_t bytes() const = 0;
  // The blocks behind this cache in this process (null for one that stands for caches held
  // elsewhere and has no local part).
  virtual PagedKvCache* paged() { return nullptr; }
};

// The KV cache's element type unless asked otherwise: F32. F16 (vLLM's kv_cache_dtype, llama.cpp's
// default) halves the cache's bytes and what attention reads, at F16's rounding of K and V.
inline constexpr DType kHostKvDType = DType::kF32;

// True for the element types a KV cache may hold: F32 and F16.
inline bool KvDTypeSupported(DType dtype) { return dtype == DType::kF32 || dtype == DType::kF16; }

// What one runner's blocks hold: its layers, its share of the KV heads, and the element type.
struct KvCacheShape {
  int64_t num_layers = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  DType dtype = kHostKvDType;

  // Bytes one block of `block_size` positions takes over all these layers (K and V): the one
  // definition every budget, placement and cache size uses.
  uint64_t BytesPerBlock(int64_t block_size) const;
};

// The whole model's KV shape (every layer, every KV head) in the host cache's element type:
// what a budget computed before any runner exists (placement, the model info) counts.
KvCacheShape WholeModelKvShape(const ModelConfig& config);

// Blocks of `block_size` positions that hold `tokens` positions.
inline int64_t BlocksFor(int64_t tokens, int64_t block_size) {
  return (tokens + block_size - 1) / block_size;
}

// A KvCache in one backend's memory (host memory for the CPU, device memory for a GPU). Block b
// of layer l holds `block_size` positions of one sequence, for every KV head: K and V each
// [num_kv_heads][block_size][head_dim] elements of the shape's dtype (F32 or F16).
class PagedKvCache final : public KvCache {
 public:
  // Reserves `num_blocks` blocks in `backend`'s memory. A host backend's pages stay untouched
  // until positions are written. InvalidArgument for non-positive sizes, another element type
  // (not F32 or F16) or an overflowing size; ResourceExhausted when it cannot be reserved.
  static absl::StatusOr<std::unique_ptr<PagedKvCache>> Create(Backend& backend,
                                                              const KvCacheShape& shape,
                                                              int64_t block_size,
                                                              int64_t num_blocks);

  int64_t block_size() const override { return block_size_; }
  int64_t num_blocks() const override { return num_blocks_; }
  uint64_t bytes() const override { return static_cast<uint64_t>(data_bytes_); }
  PagedKvCache* paged() override { return this; }
  const KvCacheShape& shape() const { return shape_; }
  // The backend whose memory holds the blocks (only compared, never called).
  const Backend* backend() const { return backend_; }
  // Layer `layer`'s K and V pools (the runner's own numbering, from 0) in the backend's memory:
  // [num_blocks][num_kv_heads][block_size][head_dim] elements of shape().dtype.
  void* k(int64_t layer) { return Bytes() + (2 * layer) * layer_bytes_; }
  void* v(int64_t layer) { return Bytes() + (2 * layer + 1) * layer_bytes_; }

 private:
  PagedKvCache() = default;
  char* Bytes() { return static_cast<char*>(data_->data()); }

  KvCacheShape shape_;
  const Backend* backend_ = nullptr;
  int64_t block_size_ = 0;
  int64_t num_blocks_ = 0;
  int64_t layer_bytes_ = 0;
  int64_t data_bytes_ = 0;
  std::unique_ptr<DeviceBuffer> data_;
};

// Positions per KV block unless the Scheduler's options say otherwise (vLLM's default too).
inline constexpr int64_t kDefaultKvBlockSize = 16;

}  // namespace infer

#endif  // INFER_MODEL_KV_CACHE_H_
