#include "libinfer/model/kv_cache.h"

#include <algorithm>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace infer {

uint64_t KvCacheShape::BytesPerBlock(int64_t block_size) const {
  const int64_t elems = 2 * num_layers * num_kv_heads * block_size * head_dim;
  return static_cast<uint64_t>(DTypeBytes(dtype, elems).value_or(0));
}

KvCacheShape WholeModelKvShape(const ModelConfig& config) {
  return {config.num_layers, config.num_kv_heads, config.head_dim, kHostKvDType};
}

absl::StatusOr<std::unique_ptr<PagedKvCache>> PagedKvCache::Create(Backend& backend,
                                                                   const KvCacheShape& s,
                                                                   int64_t block_size,
                                                                   int64_t num_blocks) {
  if (block_size <= 0 || num_blocks <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KV cache: block size ", block_size, " and block count ", num_blocks, " must be positive"));
  }
  if (!KvDTypeSupported(s.dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV cache: the cache holds F32 or F16, not ", DTypeName(s.dtype)));
  }
  const uint64_t per_block = s.BytesPerBlock(block_size);
  // A stage may hold no layer's cache at all (per_block 0); it still takes one float.
  if (per_block != 0 &&
      static_cast<uint64_t>(num_blocks) > std::numeric_limits<int64_t>::max() / 2 / per_block) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV cache: ", num_blocks, " blocks of ", per_block, " bytes overflow"));
  }
  auto cache = std::unique_ptr<PagedKvCache>(new PagedKvCache());
  cache->shape_ = s;
  cache->backend_ = &backend;
  cache->block_size_ = block_size;
  cache->num_blocks_ = num_blocks;
  // One layer's K (or V) pool: every block's [num_kv_heads][block_size][head_dim] elements.
  cache->layer_bytes_ =
      num_blocks * DTypeBytes(s.dtype, s.num_kv_heads * block_size * s.head_dim).value_or(0);
  cache->data_bytes_ = 2 * s.num_layers * cache->layer_bytes_;
  // A stage may hold no layer's cache at all; it still takes a few bytes.
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(cache->data_bytes_, 4));
  auto data = backend.Allocate(bytes);
  if (!data.ok()) {
    return absl::ResourceExhaustedError(absl::StrCat("KV cache: cannot reserve ", num_blocks,
                                                     " blocks (", bytes,
                                                     " bytes): ", data.status().message()));
  }
  cache->data_ = std::move(*data);
  return cache;
}

}  // namespace infer
