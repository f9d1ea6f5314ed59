// AVX2 + FMA gated activations: SiLU and GELU (tanh form) times up, eight values at a time with
// the vectorised exp. A tail shorter than eight goes through the same vector code (padded), so
// an element's result does not depend on where it sits in the array.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "libinfer/kernels/cpu/exp_avx2.h"
#include "libinfer/kernels/cpu/ops_internal.h"

namespace infer::kernels::cpu {
namespace {

// silu(g) = g * sigmoid(g); with e = exp(-|g|) in (0, 1]: sigmoid(g) = 1 / (1 + e) for g >= 0,
// e / (1 + e) below.
inline __m256 Silu(__m256 g) {
  const __m256 abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), g);
  const __m256 e = ExpNonPositive(_mm256_sub_ps(_mm256_setzero_ps(), abs));
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 num = _mm256_blendv_ps(e, one, _mm256_cmp_ps(g, _mm256_setzero_ps(), _CMP_GE_OQ));
  return _mm256_mul_ps(g, _mm256_div_ps(num, _mm256_add_ps(one, e)));
}

// gelu(v) = v / 2 * (1 + tanh(u)), u = sqrt(2 / pi) * (v + 0.044715 v^3); with e = exp(-2|u|):
// tanh(u) = sign(u) * (1 - e) / (1 + e).
inline __m256 GeluTanh(__m256 v) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
  const __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f),
                                 _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), v3, v));
  const __m256 sign = _mm256_and_ps(_mm256_set1_ps(-0.0f), u);
  const __m256 abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), u);
  const __m256 e = ExpNonPositive(_mm256_mul_ps(_mm256_set1_ps(-2.0f), abs));
  const __m256 t = _mm256_or_ps(sign, _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e)));
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), v), _mm256_add_ps(one, t));
}

template <__m256 (*Act)(__m256)>
void GatedMul(const float* gate, const float* up, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = Act(_mm256_loadu_ps(gate + i));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(g, _mm256_loadu_ps(up + i)));
  }
  if (i < n) {
    alignas(32) float g[8] = {};
    alignas(32) float u[8] = {};
    std::copy(gate + i, gate + n, g);
    std::copy(up + i, up + n, u);
    _mm256_store_ps(g, _mm256_mul_ps(Act(_mm256_load_ps(g)), _mm256_load_ps(u)));
    std::copy(g, g + (n - i), out + i);
  }
}

}  // namespace

void SiluMulAvx2(const float* gate, const float* up, float* out, int64_t n) {
  GatedMul<Silu>(gate, up, out, n);
}

void GeluTanhMulAvx2(const float* gate, const float* up, float* out, int64_t n) {
  GatedMul<GeluTanh>(gate, up, out, n);
}

void ToF16Avx2(const float* x, int64_t n, uint16_t* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  if (i < n) {
    alignas(32) float tail[8] = {};
    alignas(16) uint16_t out[8];
    std::copy(x + i, x + n, tail);
    _mm_store_si128(reinterpret_cast<__m128i*>(out),
                    _mm256_cvtps_ph(_mm256_load_ps(tail), _MM_FROUND_TO_NEAREST_INT));
    std::copy(out, out + (n - i), dst + i);
  }
}

}  // namespace infer::kernels::cpu
