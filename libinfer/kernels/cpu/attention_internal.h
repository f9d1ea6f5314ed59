// Per-ISA kernels behind PagedAttention(): one (query row, head) against its visible cache rows.
#ifndef INFER_KERNELS_CPU_ATTENTION_INTERNAL_H_
#define INFER_KERNELS_CPU_ATTENTION_INTERNAL_H_

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace infer::kernels::cpu {

// The cache rows one (query row, head) pair sees: positions [first, first + count) of one KV
// head of one sequence, scattered over blocks of `block_size` rows.
struct KvRows {
  const void* k = nullptr;  // the layer's K pool
  const void* v = nullptr;  // the layer's V pool
  bool f16 = false;         // the pools hold F16 elements (else F32)
  const int32_t* block_table = nullptr;
  int64_t block_floats = 0;  // elements per block
  int64_t head_offset = 0;   // elements from a block's start to this KV head's first row
  int64_t block_size = 0;
  int64_t head_dim = 0;
  int64_t first = 0;
  int64_t count = 0;
};

// Calls f(k_rows, v_rows, j, n) for each run of n consecutive rows that lie contiguously in one
// block, j being the index of the run's first row in [0, count); the rows are T (float, or
// uint16_t holding F16 bits: the pools' element type).
template <class T, class F>
inline void ForEachKvRun(const KvRows& r, F f) {
  const int64_t end = r.first + r.count;
  const T* k = static_cast<const T*>(r.k);
  const T* v = static_cast<const T*>(r.v);
  for (int64_t p = r.first; p < end;) {
    const int64_t in_block = p % r.block_size;
    const int64_t n = std::min(r.block_size - in_block, end - p);
    const int64_t base =
        r.block_table[p / r.block_size] * r.block_floats + r.head_offset + in_block * r.head_dim;
    f(k + base, v + base, p - r.first, n);
    p += n;
  }
}

// For each of `heads` query heads g that share the KV head of `rows` (q + g * head_dim):
// out[g * head_dim, (g + 1) * head_dim) = sum_j softmax_j(cap(scale * <q_g, k_j>)) * v_j over
// the rows of `rows`, where cap(s) = softcap * tanh(s / softcap) when softcap > 0, else s.
// `scores` has room for heads * rows.count floats. A head's result does not depend on `heads`
// or on the other heads (the same bits alone).
using AttendHeadsFn = void (*)(const float* q, int64_t heads, const KvRows& rows, float scale,
                               float softcap, float* scores, float* out);

// At most kMaxAttendHeads heads per call.
inline constexpr int64_t kMaxAttendHeads = 4;

void AttendHeadsPortable(const float* q, int64_t heads, const KvRows& rows, float scale,
                         float softcap, float* scores, float* out);
// Needs AVX2 + FMA and head_dim % 8 == 0.
void AttendHeadsAvx2(const float* q, int64_t heads, const KvRows& rows, float scale, float softcap,
                     float* scores, float* out);

// Applies the soft cap to n scores in place and returns their new maximum.
inline float SoftCapScores(float* scores, int64_t n, float softcap) {
  float max = -INFINITY;
  for (int64_t j = 0; j < n; ++j) {
    scores[j] = softcap * std::tanh(scores[j] / softcap);
    max = std::max(max, scores[j]);
  }
  return max;
}

}  // namespace infer::kernels::cpu

#endif  // INFER_KERNELS_CPU_ATTENTION_INTERNAL_H_
