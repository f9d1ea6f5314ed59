// Causal multi-head attention with grouped K/V heads (GQA) over a contiguous per-sequence cache.
#ifndef INFER_KERNELS_CPU_ATTENTION_H_
#define INFER_KERNELS_CPU_ATTENTION_H_

#include <cstdint>

#include "libinfer/util/thread_pool.h"

namespace infer::kernels::cpu {

struct AttentionShape {
  int64_t num_heads = 0;     // query heads
  int64_t num_kv_heads = 0;  // K/V heads; num_heads % num_kv_heads == 0
  int64_t head_dim = 0;
  int64_t cache_stride = 0;    // positions per K/V head in the cache (its capacity)
  int64_t sliding_window = 0;  // 0: attend to every earlier position
  float scale = 0;             // usually 1 / sqrt(head_dim)
};

// For query token t (0 <= t < num_tokens) at position start_pos + t, attends to cache
// positions [max(0, pos - window + 1), pos]. The caller has already written those positions.
//   q:   [num_tokens][num_heads][head_dim]
//   k,v: [num_kv_heads][cache_stride][head_dim]
//   out: [num_tokens][num_heads][head_dim]
// Work is split over (token, head) pairs; pool may be null.
void Attention(const AttentionShape& shape, const float* q, const float* k, const float* v,
               int64_t num_tokens, int64_t start_pos, float* out, ThreadPool* pool);

}  // namespace infer::kernels::cpu

#endif  // INFER_KERNELS_CPU_ATTENTION_H_
