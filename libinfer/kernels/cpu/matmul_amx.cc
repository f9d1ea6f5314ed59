// AMX tile kernels for quantized weights with int16 activations (compiled with the AVX-512 flags
// plus -mamx-tile -mamx-int8; see CMakeLists.txt). Used only where the CPU has AMX-TILE and
// AMX-INT8 and the process may use them (CpuFeatures::amx); every other product of this level is
// the AVX-512 VNNI table's.
//
// The arithmetic is the AVX-512 VNNI level's (matmul_avx2_quant.inc, "one exact integer dot per
// block"): per (half-)block one exact int32 dot, converted and scaled once,
//   acc = fma(float(dot_b), dw_b * dx_b, acc),   off = fma(m_b, s_b, off),   acc + off,
// so a row's result has the same bits here as through the VNNI kernels, alone or in any batch.
// The dots come from tile products: a weight tile (16 weight rows x one block of 32 codes, as
// signed bytes) times the activation tile's high bytes (signed x signed) and low bytes (signed x
// unsigned), each 16 x 16 int32 sums exact; 256 * hi + lo is the int16 dot (|dot| < 2^31).
// Types with a scale per 16 elements multiply two weight tiles per block, each with the other
// half's codes zeroed, so that each half's dot comes out alone.
//
// Only the table getter has external linkage here (see matmul_internal.h).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "libinfer/kernels/cpu/matmul_internal.h"

namespace infer::kernels::cpu {
namespace {

// The shared 256-bit file supplies the weight formats' block decoders (AvxQ*, ScalesOf).
#define INFER_DOT_U8S8(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), (u), (s))
#define INFER_DOT2_S16(w0, a0, w1, a1) \
  _mm256_dpwssd_epi32(_mm256_madd_epi16((w0), (a0)), (w1), (a1))
#define INFER_DPWSSD(acc, w, a) _mm256_dpwssd_epi32((acc), (w), (a))
#define INFER_BLOCK_DOTS 1
#define INFER_GROUP_ZMM 1
#define INFER_GROUP_WEIGHT_ROWS 2
#include "libinfer/kernels/cpu/matmul_avx2_quant.inc"
#undef INFER_GROUP_WEIGHT_ROWS
#undef INFER_GROUP_ZMM
#undef INFER_BLOCK_DOTS
#undef INFER_DPWSSD
#undef INFER_DOT_U8S8
#undef INFER_DOT2_S16

// Products of fewer rows go through the VNNI kernels (the same bits): with fewer than this
// many activation rows a tile's weight decoding serves too few of them.
constexpr int64_t kTileMinRows = 16;

constexpr int kTile = kTileRows;  // weight rows per tile, as activation rows

// ldtilecfg's operand (palette 1). Tiles 0 and 3: weight codes, 16 rows x 32 bytes; 1 and 2: an
// activation tile's high and low bytes, 8 rows x 64 bytes; 4-7: products, 16 x 16 int32.
struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};
static_assert(sizeof(TileConfig) == 64);

TileConfig MakeTileConfig() {
  TileConfig c{};
  c.palette = 1;
  for (int t : {0, 3}) {
    c.rows[t] = kTile;
    c.colsb[t] = kQuantBlock;
  }
  for (int t : {1, 2}) {
    c.rows[t] = kQuantBlock / 4;
    c.colsb[t] = 4 * kTile;
  }
  for (int t = 4; t < 8; ++t) {
    c.rows[t] = kTile;
    c.colsb[t] = 4 * kTile;
  }
  return c;
}

// Rows x[0, rows) into nb tiles (PackTiles16Fn).
void PackTiles16(const ActBlockQ16* x, int64_t rows, int64_t nb, ActTile16* out) {
  // Dword k of a row's 32 high (low) bytes goes to row k of the tile, at column n.
  const __m256i at = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);
  const __m512i ones = _mm512_set1_epi16(1);
  for (int64_t b = 0; b < nb; ++b) {
    ActTile16& t = out[b];
    if (rows < kTile) std::memset(&t, 0, sizeof(t));
    for (int64_t n = 0; n < rows; ++n) {
      const ActBlockQ16& a = x[n * nb + b];
      const __m512i q = _mm512_loadu_si512(a.qs);
      const __m256i hi = _mm512_cvtepi16_epi8(_mm512_srai_epi16(q, 8));
      const __m256i lo = _mm512_cvtepi16_epi8(q);
      _mm256_i32scatter_epi32(reinterpret_cast<int*>(&t.hi[0][0]) + n, at, hi, 4);
      _mm256_i32scatter_epi32(reinterpret_cast<int*>(&t.lo[0][0]) + n, at, lo, 4);
      // The halves' code sums (exact), times the block's scale: ActGroup16's s_lo / s_hi.
      const __m512i pairs = _mm512_madd_epi16(q, ones);
      const int32_t sum_lo = HsumEpi32x256(_mm512_castsi512_si256(pairs));
      const int32_t sum_hi = HsumEpi32x256(_mm512_extracti64x4_epi64(pairs, 1));
      t.d[n] = a.d;
      t.s[n] = a.s;
      t.s_lo[n] = a.d * static_cast<float>(sum_lo);
      t.s_hi[n] = a.d * static_cast<float>(sum_hi);
    }
  }
}

// Sixteen weight rows decoded for the tile products: per (sub-)block b and row r, kWidth bytes
// of codes at codes[(b * kTile + r) * kWidth] (split types: the codes with elements 16..31
// zeroed, then with 0..15 zeroed), and the halves' scales and offsets at d / m[(2 b + h) * kTile
// + r]. Rows past n are zero.
template <class Q>
struct WeightTile {
  static constexpr bool kSplit = SplitOf<Q>();
  static constexpr int kWidth = kSplit ? 2 * kQuantBlock : kQuantBlock;

  static void Decode(const WeightMatrix& w, int64_t j0, int n, int64_t nb, int8_t* codes, float* d,
                     float* m) {
    const auto* base = static_cast<const uint8_t*>(w.data);
    const __m256i first_half = _mm256_setr_m128i(_mm_set1_epi8(-1), _mm_setzero_si128());
    for (int r = 0; r < kTile; ++r) {
      if (r >= n) {
        for (int64_t b = 0; b < nb; ++b) {
          std::memset(codes + (b * kTile + r) * kWidth, 0, kWidth);
          for (int h = 0; h < 2; ++h)
            d[(2 * b + h) * kTile + r] = m[(2 * b + h) * kTile + r] = 0.0f;
        }
        continue;
      }
      ForEachBlockBytes<Q>(base + (j0 + r) * w.row_bytes, nb,
                           [&](int64_t b, __m256i c, float d0, float d1, float m0, float m1) {
                             auto* out =
                                 reinterpret_cast<__m256i*>(codes + (b * kTile + r) * kWidth);
                             if constexpr (kSplit) {
                               _mm256_storeu_si256(out, _mm256_and_si256(c, first_half));
                               _mm256_storeu_si256(out + 1, _mm256_andnot_si256(first_half, c));
                             } else {
                               _mm256_storeu_si256(out, c);
                             }
                             d[2 * b * kTile + r] = d0;
                             d[(2 * b + 1) * kTile + r] = d1;
                             m[2 * b * kTile + r] = m0;
                             m[(2 * b + 1) * kTile + r] = m1;
                           });
    }
  }
};

// The exact int32 dots of one product tile pair (high bytes' at hi, low bytes' at lo; row r:
// weight row r, lane n: activation row n).
inline __m512i TileDot(const int32_t* hi, const int32_t* lo) {
  return _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(hi), 8), _mm512_load_si512(lo));
}

// One decoded weight tile against one activation tile (nb blocks): out[r * kTile + n] for weight
// row r and activation row n.
template <bool kSplit, bool kOffset>
void TileProduct(const int8_t* codes, const float* d, const float* m, const ActTile16* a,
                 int64_t nb, float* out) {
  constexpr int kWidth = kSplit ? 2 * kQuantBlock : kQuantBlock;
  alignas(64) int32_t prod[4][kTile][kTile];
  __m512 acc[kTile];
  for (auto& v : acc) v = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const ActTile16& t = a[b];
    const int8_t* wc = codes + b * kTile * kWidth;
    _tile_loadd(0, wc, kWidth);
    _tile_loadd(1, t.hi, 4 * kTile);
    _tile_loadd(2, t.lo, 4 * kTile);
    _tile_zero(4);
    _tile_zero(5);
    _tile_dpbssd(4, 0, 1);
    _tile_dpbsud(5, 0, 2);
    if constexpr (kSplit) {
      _tile_loadd(3, wc + kQuantBlock, kWidth);
      _tile_zero(6);
      _tile_zero(7);
      _tile_dpbssd(6, 3, 1);
      _tile_dpbsud(7, 3, 2);
    }
    _tile_stored(4, prod[0], 4 * kTile);
    _tile_stored(5, prod[1], 4 * kTile);
    if constexpr (kSplit) {
      _tile_stored(6, prod[2], 4 * kTile);
      _tile_stored(7, prod[3], 4 * kTile);
    }
    const __m512 dx = _mm512_loadu_ps(t.d);
    const float* d0 = d + 2 * b * kTile;
    for (int r = 0; r < kTile; ++r) {
      acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(TileDot(prod[0][r], prod[1][r])),
                               _mm512_mul_ps(_mm512_set1_ps(d0[r]), dx), acc[r]);
      if constexpr (kSplit) {
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(TileDot(prod[2][r], prod[3][r])),
                                 _mm512_mul_ps(_mm512_set1_ps(d0[kTile + r]), dx), acc[r]);
      }
    }
  }
  for (int r = 0; r < kTile; ++r) _mm512_store_ps(out + r * kTile, acc[r]);
  // The offset terms in their own pass (sixteen more accumulators would not fit the registers),
  // then acc + off (+ 0 for types without offsets, as the VNNI kernels add their zero sum).
  __m512 off[kTile];
  for (auto& v : off) v = _mm512_setzero_ps();
  if constexpr (kOffset) {
    for (int64_t b = 0; b < nb; ++b) {
      const ActTile16& t = a[b];
      const float* m0 = m + 2 * b * kTile;
      if constexpr (kSplit) {
        const __m512 s_lo = _mm512_loadu_ps(t.s_lo);
        const __m512 s_hi = _mm512_loadu_ps(t.s_hi);
        for (int r = 0; r < kTile; ++r) {
          off[r] = _mm512_fmadd_ps(_mm512_set1_ps(m0[r]), s_lo, off[r]);
          off[r] = _mm512_fmadd_ps(_mm512_set1_ps(m0[kTile + r]), s_hi, off[r]);
        }
      } else {
        const __m512 s = _mm512_loadu_ps(t.s);
        for (int r = 0; r < kTile; ++r) off[r] = _mm512_fmadd_ps(_mm512_set1_ps(m0[r]), s, off[r]);
      }
    }
  }
  for (int r = 0; r < kTile; ++r) {
    _mm512_store_ps(out + r * kTile, _mm512_add_ps(_mm512_load_ps(out + r * kTile), off[r]));
  }
}

// TileGemm16Fn for weight format Q.
template <class Q>
void TileGemm16(const WeightMatrix& w, const ActTile16* tiles, int64_t m, float* y, int64_t ldy,
                int64_t row_begin, int64_t row_end) {
  using Tile = WeightTile<Q>;
  const int64_t nb = w.cols / kQuantBlock;
  const int64_t count = (m + kTile - 1) / kTile;
  // Per thread, reused across calls (the types are this file's own, so are the instantiations).
  thread_local std::vector<int8_t> codes;
  thread_local std::vector<float> scales;
  const auto code_bytes = static_cast<size_t>(nb * kTile * Tile::kWidth);
  const auto scale_count = static_cast<size_t>(2 * nb * kTile);
  if (codes.size() < code_bytes) codes.resize(code_bytes);
  if (scales.size() < 2 * scale_count) scales.resize(2 * scale_count);
  float* d = scales.data();
  float* mins = scales.data() + scale_count;
  // The tile configuration is per thread and may have been released since the last call.
  static const TileConfig config = MakeTileConfig();
  _tile_loadconfig(&config);
  alignas(64) float out[kTile * kTile];
  for (int64_t j0 = row_begin; j0 < row_end; j0 += kTile) {
    const int n = static_cast<int>(std::min<int64_t>(kTile, row_end - j0));
    Tile::Decode(w, j0, n, nb, codes.data(), d, mins);
    for (int64_t t = 0; t < count; ++t) {
      TileProduct<Tile::kSplit, OffsetOf<Q>()>(codes.data(), d, mins, tiles + t * nb, nb, out);
      const int64_t rows = std::min<int64_t>(kTile, m - t * kTile);
      for (int64_t i = 0; i < rows; ++i) {
        float* yi = y + (t * kTile + i) * ldy + j0;
        for (int r = 0; r < n; ++r) yi[r] = out[r * kTile + i];
      }
    }
  }
  _tile_release();
}

bool UseTiles16(const WeightMatrix& w, int64_t m) {
  return m >= kTileMinRows && IsQuantized(w.dtype) &&
         w.rows * static_cast<int64_t>(w.row_bytes) < kStreamMatrixBytes;
}

template <class Q>
void SetTiles(MatMulKernelTable* t, DType dtype) {
  t->tile_gemm16[static_cast<int>(dtype)] = &TileGemm16<Q>;
}

MatMulKernelTable MakeTable() {
  MatMulKernelTable t = Avx512VnniMatMulKernels();
  t.use_tiles16 = &UseTiles16;
  t.pack_tiles16 = &PackTiles16;
  SetTiles<AvxQ8_0>(&t, DType::kQ8_0);
  SetTiles<AvxQ4_0>(&t, DType::kQ4_0);
  SetTiles<AvxQ4_1>(&t, DType::kQ4_1);
  SetTiles<AvxQ5_0>(&t, DType::kQ5_0);
  SetTiles<AvxQ5_1>(&t, DType::kQ5_1);
  SetTiles<AvxQ2_K>(&t, DType::kQ2_K);
  SetTiles<AvxQ3_K>(&t, DType::kQ3_K);
  SetTiles<AvxQ4_K>(&t, DType::kQ4_K);
  SetTiles<AvxQ5_K>(&t, DType::kQ5_K);
  SetTiles<AvxQ6_K>(&t, DType::kQ6_K);
  SetTiles<AvxIQ4_NL>(&t, DType::kIQ4_NL);
  SetTiles<AvxIQ4_XS>(&t, DType::kIQ4_XS);
  return t;
}

}  // namespace

const MatMulKernelTable& AmxMatMulKernels() {
  static const MatMulKernelTable table = MakeTable();
  return table;
}

}  // namespace infer::kernels::cpu
