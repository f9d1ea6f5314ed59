// e^x on eight floats for AVX2 + FMA translation units (attention's softmax, the gated
// activations). Include only from files compiled with AVX2 and FMA enabled. Internal linkage
// (static): a copy compiled with other ISA flags must never stand in for this one.
#ifndef INFER_KERNELS_CPU_EXP_AVX2_H_
#define INFER_KERNELS_CPU_EXP_AVX2_H_

#include <immintrin.h>

namespace infer::kernels::cpu {

// e^x for x <= 0 (softmax arguments), relative error ~2e-7: x = n ln2 + r with |r| <= ln2 / 2,
// e^r by a degree-6 polynomial (Taylor coefficients refined for the interval), 2^n through the
// exponent bits. Inputs below -87 give 0.
static inline __m256 ExpNonPositive(__m256 x) {
  const __m256 min = _mm256_set1_ps(-87.0f);
  const __m256 underflow = _mm256_cmp_ps(x, min, _CMP_LT_OQ);
  x = _mm256_max_ps(x, min);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 result = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
  return _mm256_andnot_ps(underflow, result);
}

}  // namespace infer::kernels::cpu

#endif  // INFER_KERNELS_CPU_EXP_AVX2_H_
