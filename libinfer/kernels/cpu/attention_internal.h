// Per-ISA kernels behind Attention(): one (query row, head) against its visible cache rows.
#ifndef INFER_KERNELS_CPU_ATTENTION_INTERNAL_H_
#define INFER_KERNELS_CPU_ATTENTION_INTERNAL_H_

#include <cstdint>

namespace infer::kernels::cpu {

// out[0, head_dim) = sum_j softmax_j(scale * <q, k_j>) * v_j over the `count` rows k_j, v_j
// (row stride head_dim). `scores` has room for `count` floats.
using AttendRowFn = void (*)(const float* q, const float* k, const float* v, int64_t count,
                             int64_t head_dim, float scale, float* scores, float* out);

void AttendRowPortable(const float* q, const float* k, const float* v, int64_t count,
                       int64_t head_dim, float scale, float* scores, float* out);
// Needs AVX2 + FMA and head_dim % 8 == 0.
void AttendRowAvx2(const float* q, const float* k, const float* v, int64_t count, int64_t head_dim,
                   float scale, float* scores, float* out);

}  // namespace infer::kernels::cpu

#endif  // INFER_KERNELS_CPU_ATTENTION_INTERNAL_H_
