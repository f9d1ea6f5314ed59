// AVX2 + FMA + F16C matrix-product kernels (compiled with -mavx2 -mfma -mf16c; see
// CMakeLists.txt). Float weights: converted in registers (F16C for half, a 16-bit shift for
// bfloat16) and FMA'd against F32 activations. Quantized weights: matmul_avx2_quant.inc with
// madd (int16 activations, the default) or maddubs + madd (int8 activations) dot products.
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

#define INFER_DOT_U8S8(u, s) _mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1))
#define INFER_DOT2_S16(w0, a0, w1, a1) \
  _mm256_add_epi32(_mm256_madd_epi16((w0), (a0)), _mm256_madd_epi16((w1), (a1)))
#define INFER_DPWSSD(acc, w, a) _mm256_add_epi32((acc), _mm256_madd_epi16((w), (a)))
#define INFER_BLOCK_DOTS 0
#define INFER_GROUP_ZMM 0
#define INFER_GROUP_WEIGHT_ROWS 1
#include "libinfer/kernels/cpu/matmul_avx2_quant.inc"
#undef INFER_GROUP_WEIGHT_ROWS
#undef INFER_GROUP_ZMM
#undef INFER_BLOCK_DOTS
#undef INFER_DPWSSD
#undef INFER_DOT_U8S8
#undef INFER_DOT2_S16

struct Avx2F32 {
  static constexpr int64_t kSize = 4;
  static __m256 Load8(const uint8_t* p) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  }
  static float One(const uint8_t* p) {
    float v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
};

struct Avx2F16 {
  static constexpr int64_t kSize = 2;
  static __m256 Load8(const uint8_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static float One(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, sizeof(v));
    return _cvtsh_ss(v);
  }
};

struct Avx2BF16 {
  static constexpr int64_t kSize = 2;
  static __m256 Load8(const uint8_t* p) {
    const __m256i wide =
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static float One(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, sizeof(v));
    const uint32_t bits = static_cast<uint32_t>(v) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    return f;
  }
};

// R activation rows against one weight row; U independent accumulators per row.
template <class L, int R>
void FloatTile(const uint8_t* wrow, const float* x, int64_t k, float* y, int64_t ldy) {
  constexpr int U = 2;  // the same for every R: a row's sum must not depend on the batch
  __m256 acc[R][U];
  for (int r = 0; r < R; ++r) {
    for (int u = 0; u < U; ++u) acc[r][u] = _mm256_setzero_ps();
  }
  int64_t c = 0;
  for (; c + 8 * U <= k; c += 8 * U) {
    for (int u = 0; u < U; ++u) {
      const __m256 wv = L::Load8(wrow + (c + 8 * u) * L::kSize);
      for (int r = 0; r < R; ++r) {
        acc[r][u] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + r * k + c + 8 * u), acc[r][u]);
      }
    }
  }
  for (; c + 8 <= k; c += 8) {
    const __m256 wv = L::Load8(wrow + c * L::kSize);
    for (int r = 0; r < R; ++r) {
      acc[r][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + r * k + c), acc[r][0]);
    }
  }
  float tail[R] = {};
  for (; c < k; ++c) {
    const float wv = L::One(wrow + c * L::kSize);
    for (int r = 0; r < R; ++r) tail[r] += wv * x[r * k + c];
  }
  for (int r = 0; r < R; ++r) {
    __m256 s = acc[r][0];
    for (int u = 1; u < U; ++u) s = _mm256_add_ps(s, acc[r][u]);
    y[r * ldy] = HsumPs256(s) + tail[r];
  }
}

constexpr int64_t kFloatTileBytes = 64 * 1024;

template <class L>
void GemmFloat(const WeightMatrix& w, const void* xv, int64_t m, float* y, int64_t ldy,
               int64_t row_begin, int64_t row_end) {
  ForEachFloatTile(w, static_cast<const float*>(xv), m, y, ldy, row_begin, row_end, kFloatTileBytes,
                   [](auto r, const uint8_t* wrow, const float* x, int64_t k, float* yj,
                      int64_t ld) { FloatTile<L, decltype(r)::value>(wrow, x, k, yj, ld); });
}

MatMulKernelTable MakeTable() {
  MatMulKernelTable t{};
  t.gemm[static_cast<int>(DType::kF32)] = &GemmFloat<Avx2F32>;
  t.gemm[static_cast<int>(DType::kF16)] = &GemmFloat<Avx2F16>;
  t.gemm[static_cast<int>(DType::kBF16)] = &GemmFloat<Avx2BF16>;
  SetQuantKernelsX86(&t);
  return t;
}

}  // namespace

const MatMulKernelTable& Avx2MatMulKernels() {
  static const MatMulKernelTable table = MakeTable();
  return table;
}

}  // namespace infer::kernels::cpu
