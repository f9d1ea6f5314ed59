// AVX-512 matrix-product kernels (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni
// -mavx2 -mfma -mf16c; see CMakeLists.txt). Used only where the CPU has AVX-512 F/BW/VL and
// VNNI (MatMul falls back to the AVX2 table otherwise, so no VNNI instruction the compiler may
// choose here can reach a CPU without it).
//
// Float weights use 512-bit registers with masked loads for the tail; quantized weights use the
// shared 256-bit kernels with VNNI: dpwssd (int16 activations: one madd for the first 16
// products, dpwssd adds the other 16) and dpbusd (int8 activations: the u8 x s8 products and
// their int32 sums in one instruction, with no int16 saturation).
//
// Only the table getter has external linkage here (see matmul_internal.h).
#include <immintrin.h>

#include <cmath>

#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "libinfer/kernels/cpu/matmul_internal.h"

namespace infer::kernels::cpu {
namespace {

#include "libinfer/kernels/cpu/matmul_vnni_quant.inc"

// Load16(p, mask): 16 weights (or the masked-in ones, the rest zero) as floats.
struct Avx512F32 {
  static constexpr int64_t kSize = 4;
  static __m512 Load16(const uint8_t* p) { return _mm512_loadu_ps(p); }
  static __m512 Load16(const uint8_t* p, __mmask16 mask) { return _mm512_maskz_loadu_ps(mask, p); }
};

struct Avx512F16 {
  static constexpr int64_t kSize = 2;
  static __m512 Load16(const uint8_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 Load16(const uint8_t* p, __mmask16 mask) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p));
  }
};

struct Avx512BF16 {
  static constexpr int64_t kSize = 2;
  static __m512 Widen(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  static __m512 Load16(const uint8_t* p) {
    return Widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 Load16(const uint8_t* p, __mmask16 mask) {
    return Widen(_mm256_maskz_loadu_epi16(mask, p));
  }
};

template <class L, int R>
void FloatTile512(const uint8_t* wrow, const float* x, int64_t k, float* y, int64_t ldy) {
  constexpr int U = 2;  // the same for every R: a row's sum must not depend on the batch
  __m512 acc[R][U];
  for (int r = 0; r < R; ++r) {
    for (int u = 0; u < U; ++u) acc[r][u] = _mm512_setzero_ps();
  }
  int64_t c = 0;
  for (; c + 16 * U <= k; c += 16 * U) {
    for (int u = 0; u < U; ++u) {
      const __m512 wv = L::Load16(wrow + (c + 16 * u) * L::kSize);
      for (int r = 0; r < R; ++r) {
        acc[r][u] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + r * k + c + 16 * u), acc[r][u]);
      }
    }
  }
  for (; c + 16 <= k; c += 16) {
    const __m512 wv = L::Load16(wrow + c * L::kSize);
    for (int r = 0; r < R; ++r) {
      acc[r][0] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + r * k + c), acc[r][0]);
    }
  }
  if (c < k) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (k - c)) - 1u);
    const __m512 wv = L::Load16(wrow + c * L::kSize, mask);
    for (int r = 0; r < R; ++r) {
      acc[r][0] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask, x + r * k + c), acc[r][0]);
    }
  }
  for (int r = 0; r < R; ++r) {
    __m512 s = acc[r][0];
    for (int u = 1; u < U; ++u) s = _mm512_add_ps(s, acc[r][u]);
    y[r * ldy] = _mm512_reduce_add_ps(s);
  }
}

constexpr int64_t kFloatTileBytes = 64 * 1024;

template <class L>
void GemmFloat512(const WeightMatrix& w, const void* xv, int64_t m, float* y, int64_t ldy,
                  int64_t row_begin, int64_t row_end) {
  ForEachFloatTile(w, static_cast<const float*>(xv), m, y, ldy, row_begin, row_end, kFloatTileBytes,
                   [](auto r, const uint8_t* wrow, const float* x, int64_t k, float* yj,
                      int64_t ld) { FloatTile512<L, decltype(r)::value>(wrow, x, k, yj, ld); });
}

MatMulKernelTable MakeTable() {
  MatMulKernelTable t{};
  t.gemm[static_cast<int>(DType::kF32)] = &GemmFloat512<Avx512F32>;
  t.gemm[static_cast<int>(DType::kF16)] = &GemmFloat512<Avx512F16>;
  t.gemm[static_cast<int>(DType::kBF16)] = &GemmFloat512<Avx512BF16>;
  SetQuantKernelsX86(&t);
  return t;
}

}  // namespace

const MatMulKernelTable& Avx512VnniMatMulKernels() {
  static const MatMulKernelTable table = MakeTable();
  return table;
}

}  // namespace infer::kernels::cpu
