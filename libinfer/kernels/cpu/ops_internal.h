// Per-ISA versions of the element-wise kernels behind ops.h (chosen at run time in ops.cc).
#ifndef INFER_KERNELS_CPU_OPS_INTERNAL_H_
#define INFER_KERNELS_CPU_OPS_INTERNAL_H_

#include <cstdint>

namespace infer::kernels::cpu {

// SiluMul and GeluTanhMul with AVX2 + FMA (relative error ~1e-6 against the definitions).
void SiluMulAvx2(const float* gate, const float* up, float* out, int64_t n);
void GeluTanhMulAvx2(const float* gate, const float* up, float* out, int64_t n);
// ToF16 with F16C.
void ToF16Avx2(const float* x, int64_t n, uint16_t* dst);

}  // namespace infer::kernels::cpu

#endif  // INFER_KERNELS_CPU_OPS_INTERNAL_H_
