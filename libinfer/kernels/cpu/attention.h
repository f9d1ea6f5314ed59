// Causal multi-head attention with grouped K/V heads (GQA) over a paged K/V cache.
//
// The cache of one layer is a pool of fixed-size blocks; a sequence owns a list of blocks (its
// block table) and position p of the sequence lives in block block_table[p / block_size] at row
// p % block_size. Every query row of a batch names its own position and block table, so one call
// serves prefill chunks and decode rows of many sequences at once.
#ifndef INFER_KERNELS_CPU_ATTENTION_H_
#define INFER_KERNELS_CPU_ATTENTION_H_

#include <cstdint>
#include <span>

#include "libinfer/kernels/attention_shape.h"
#include "libinfer/util/thread_pool.h"

namespace infer::kernels::cpu {

using ::infer::kernels::AttentionShape;

// One query row: the token at `position` of a sequence whose K/V rows [0, position] are already
// in the blocks `block_table` names (at least position / block_size + 1 entries).
struct AttentionQuery {
  int64_t position = 0;
  const int32_t* block_table = nullptr;
};

// For query row t, attends to its sequence's positions [max(0, pos - window + 1), pos].
//   q:    [queries.size()][num_heads][head_dim]
//   k, v: one layer's pools, [num_blocks][num_kv_heads][block_size][head_dim] of F32, or of F16
//         (uint16_t bits) when shape.kv_f16; F16 elements are widened exactly, so the result is
//         the F32 pools' for the same (rounded) values, bit for bit
//   out:  [queries.size()][num_heads][head_dim]
// Work is split over (row, KV head) pairs, each with the query heads that share that KV head (at
// most four at a time); pool may be null. Each output is computed by one thread in an order
// fixed by its position alone, so a row's result does not depend on the other rows of the batch
// or on which blocks hold its cache.
void PagedAttention(const AttentionShape& shape, const float* q, const void* k, const void* v,
                    std::span<const AttentionQuery> queries, float* out, ThreadPool* pool);

}  // namespace infer::kernels::cpu

#endif  // INFER_KERNELS_CPU_ATTENTION_H_
