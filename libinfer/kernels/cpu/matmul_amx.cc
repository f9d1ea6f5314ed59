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

// The VNNI level's kernels supply the weight formats' block decoders (AvxQ*, ScalesOf) and
// the list of formats (ForEachQuantX86).
#include "libinfer/kernels/cpu/matmul_vnni_quant.inc"

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

// Weight rows decoded for the tile products: kRows of them (kTiles tiles of sixteen; the split
// types take one), per (sub-)block b and row r kWidth bytes of codes at codes[(b * kRows + r) *
// kWidth] (split types: the codes with elements 16..31 zeroed, then with 0..15 zeroed), and the
// halves' scales and offsets at d / m[(2 b + h) * kRows + r]. Rows past n are zero.
//
// A block takes kSteps tile-product steps: one per weight tile, or per half for the split types.
template <class Q, int kTiles>
struct WeightTile {
  static constexpr bool kSplit = SplitOf<Q>();
  static_assert(kTiles == 1 || (kTiles == 2 && !kSplit));
  static constexpr int kWidth = kSplit ? 2 * kQuantBlock : kQuantBlock;
  static constexpr int kRows = kTiles * kTile;
  static constexpr int kSteps = kSplit ? 2 : kTiles;

  // Step k of block b: its codes (a 16-row tile with row stride kWidth) and its scales.
  static const int8_t* StepCodes(const int8_t* codes, int64_t b, int k) {
    return codes + b * kRows * kWidth + k * (kSplit ? kQuantBlock : kTile * kWidth);
  }
  static const float* StepScales(const float* d, int64_t b, int k) {
    return d + 2 * b * kRows + k * (kSplit ? kRows : kTile);
  }

  static void Decode(const WeightMatrix& w, int64_t j0, int n, int64_t nb, int8_t* codes, float* d,
                     float* m) {
    const auto* base = static_cast<const uint8_t*>(w.data);
    const __m256i first_half = _mm256_setr_m128i(_mm_set1_epi8(-1), _mm_setzero_si128());
    for (int r = 0; r < kRows; ++r) {
      if (r >= n) {
        for (int64_t b = 0; b < nb; ++b) {
          std::memset(codes + (b * kRows + r) * kWidth, 0, kWidth);
          for (int h = 0; h < 2; ++h)
            d[(2 * b + h) * kRows + r] = m[(2 * b + h) * kRows + r] = 0.0f;
        }
        continue;
      }
      ForEachBlockBytes<Q>(base + (j0 + r) * w.row_bytes, nb,
                           [&](int64_t b, __m256i c, float d0, float d1, float m0, float m1) {
                             auto* out =
                                 reinterpret_cast<__m256i*>(codes + (b * kRows + r) * kWidth);
                             if constexpr (kSplit) {
                               _mm256_storeu_si256(out, _mm256_and_si256(c, first_half));
                               _mm256_storeu_si256(out + 1, _mm256_andnot_si256(first_half, c));
                             } else {
                               _mm256_storeu_si256(out, c);
                             }
                             d[2 * b * kRows + r] = d0;
                             d[(2 * b + 1) * kRows + r] = d1;
                             m[2 * b * kRows + r] = m0;
                             m[(2 * b + 1) * kRows + r] = m1;
                           });
    }
  }
};

// v[i] (sixteen floats) becomes column i of the 16 x 16 matrix whose rows were v[0..15]: for
// each bit s of the row and column indices, rows i and i + s (bit s of i clear) swap the
// elements whose column has bit s set in row i and clear in row i + s. (Two-source permutes
// only: GCC 12's unpack and shuffle intrinsics trip -Wuninitialized inside its own header.)
inline void Transpose16x16(__m512* v) {
  for (int s = 8; s >= 1; s /= 2) {
    alignas(64) int32_t lo[16];
    alignas(64) int32_t hi[16];
    for (int l = 0; l < 16; ++l) {
      const bool set = (l & s) != 0;
      lo[l] = set ? 16 + l - s : l;
      hi[l] = set ? 16 + l : l + s;
    }
    const __m512i ilo = _mm512_load_si512(lo);
    const __m512i ihi = _mm512_load_si512(hi);
    for (int i = 0; i < 16; ++i) {
      if ((i & s) != 0) continue;
      const __m512 a = v[i];
      const __m512 b = v[i + s];
      v[i] = _mm512_permutex2var_ps(a, ilo, b);
      v[i + s] = _mm512_permutex2var_ps(a, ihi, b);
    }
  }
}

// The exact int32 dots of one product tile pair (high bytes' at hi, low bytes' at lo; row r:
// weight row r, lane n: activation row n).
inline __m512i TileDot(const int32_t* hi, const int32_t* lo) {
  return _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(hi), 8), _mm512_load_si512(lo));
}

// The decoded weight rows (Tile::kRows) against one activation tile of nb blocks (`rows` of its
// rows real): y[i * ldy + r] for activation row i < rows and weight row r < n.
//
// The tile products go in steps (Tile::kSteps per block). A step's two products (high, low
// bytes) go to tiles 4 / 5 or 6 / 7 in turn, so that a step's products are computed while the
// previous step's are scaled; its stores come after that scaling in program order (measured: a
// load behind a pending tile store waits for it).
template <class Tile, bool kOffset>
void TileProduct(const int8_t* codes, const float* d, const float* m, const ActTile16* a,
                 int64_t nb, int64_t rows, int n, float* y, int64_t ldy) {
  constexpr bool kSplit = Tile::kSplit;
  constexpr int kWidth = Tile::kWidth;
  constexpr int kRows = Tile::kRows;
  constexpr int kSteps = Tile::kSteps;
  constexpr int kSets = kRows / kTile;  // accumulator sets: one per weight tile
  // The set of the odd steps (the even ones' is 0): the second tile's where a block has two.
  constexpr int kOddSet = kSteps == 2 && !kSplit ? 1 : 0;
  alignas(64) int32_t prod[2][2][kTile][kTile];
  __m512 acc[kSets][kTile];
  for (auto& set : acc) {
    for (auto& v : set) v = _mm512_setzero_ps();
  }
  auto load_acts = [&](int64_t b) {
    _tile_loadd(1, a[b].hi, 4 * kTile);
    _tile_loadd(2, a[b].lo, 4 * kTile);
  };
  auto scale = [&](int64_t s, const int32_t(*p)[kTile][kTile], __m512* out) {
    const int64_t b = s / kSteps;
    const __m512 dx = _mm512_loadu_ps(a[b].d);
    const float* ds = Tile::StepScales(d, b, static_cast<int>(s % kSteps));
    for (int r = 0; r < kTile; ++r) {
      out[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(TileDot(p[0][r], p[1][r])),
                               _mm512_mul_ps(_mm512_set1_ps(ds[r]), dx), out[r]);
    }
  };
  const int64_t steps = nb * kSteps;
  for (int64_t s = 0; s < steps; s += 2) {
    // An even step is a block's first.
    load_acts(s / kSteps);
    _tile_loadd(0, Tile::StepCodes(codes, s / kSteps, 0), kWidth);
    _tile_zero(4);
    _tile_zero(5);
    _tile_dpbssd(4, 0, 1);
    _tile_dpbsud(5, 0, 2);
    if (s > 0) scale(s - 1, prod[1], acc[kOddSet]);
    _tile_stored(4, prod[0][0], 4 * kTile);
    _tile_stored(5, prod[0][1], 4 * kTile);
    if (s + 1 == steps) {
      scale(s, prod[0], acc[0]);
      break;
    }
    if constexpr (kSteps == 1) load_acts(s + 1);
    _tile_loadd(3, Tile::StepCodes(codes, (s + 1) / kSteps, static_cast<int>((s + 1) % kSteps)),
                kWidth);
    _tile_zero(6);
    _tile_zero(7);
    _tile_dpbssd(6, 3, 1);
    _tile_dpbsud(7, 3, 2);
    scale(s, prod[0], acc[0]);
    _tile_stored(6, prod[1][0], 4 * kTile);
    _tile_stored(7, prod[1][1], 4 * kTile);
    if (s + 2 == steps) scale(s + 1, prod[1], acc[kOddSet]);
  }
  // The offset terms (after the products: more accumulators would not fit the registers), then
  // acc + off (+ 0 for types without offsets, as the VNNI kernels add their zero sum), and each
  // set transposed so that an activation row's results are contiguous in y.
  for (int k = 0; k < kSets; ++k) {
    __m512 off[kTile];
    for (auto& v : off) v = _mm512_setzero_ps();
    if constexpr (kOffset) {
      for (int64_t b = 0; b < nb; ++b) {
        const ActTile16& t = a[b];
        const float* m0 = m + 2 * b * kRows + k * kTile;
        if constexpr (kSplit) {
          const __m512 s_lo = _mm512_loadu_ps(t.s_lo);
          const __m512 s_hi = _mm512_loadu_ps(t.s_hi);
          for (int r = 0; r < kTile; ++r) {
            off[r] = _mm512_fmadd_ps(_mm512_set1_ps(m0[r]), s_lo, off[r]);
            off[r] = _mm512_fmadd_ps(_mm512_set1_ps(m0[kRows + r]), s_hi, off[r]);
          }
        } else {
          const __m512 s = _mm512_loadu_ps(t.s);
          for (int r = 0; r < kTile; ++r) {
            off[r] = _mm512_fmadd_ps(_mm512_set1_ps(m0[r]), s, off[r]);
          }
        }
      }
    }
    const int cols = n - k * kTile;
    if (cols <= 0) break;
    for (int r = 0; r < kTile; ++r) off[r] = _mm512_add_ps(acc[k][r], off[r]);
    Transpose16x16(off);
    const auto mask = static_cast<__mmask16>(cols >= kTile ? 0xffffu : (1u << cols) - 1u);
    for (int64_t i = 0; i < rows; ++i) {
      _mm512_mask_storeu_ps(y + i * ldy + k * kTile, mask, off[i]);
    }
  }
}

// Weight rows [row_begin, row_end) against every activation tile, with the weight rows decoded
// Tile::kRows at a time.
template <class Q, class Tile>
void TileRows(const WeightMatrix& w, const ActTile16* tiles, int64_t m, float* y, int64_t ldy,
              int64_t row_begin, int64_t row_end) {
  const int64_t nb = w.cols / kQuantBlock;
  const int64_t count = (m + kTile - 1) / kTile;
  // Per thread, reused across calls (the types are this file's own, so are the instantiations).
  thread_local std::vector<int8_t> codes;
  thread_local std::vector<float> scales;
  const auto code_bytes = static_cast<size_t>(nb * Tile::kRows * Tile::kWidth);
  const auto scale_count = static_cast<size_t>(2 * nb * Tile::kRows);
  if (codes.size() < code_bytes) codes.resize(code_bytes);
  if (scales.size() < 2 * scale_count) scales.resize(2 * scale_count);
  float* d = scales.data();
  float* mins = scales.data() + scale_count;
  for (int64_t j0 = row_begin; j0 < row_end; j0 += Tile::kRows) {
    const int n = static_cast<int>(std::min<int64_t>(Tile::kRows, row_end - j0));
    Tile::Decode(w, j0, n, nb, codes.data(), d, mins);
    for (int64_t t = 0; t < count; ++t) {
      TileProduct<Tile, OffsetOf<Q>()>(codes.data(), d, mins, tiles + t * nb, nb,
                                       std::min<int64_t>(kTile, m - t * kTile), n,
                                       y + t * kTile * ldy + j0, ldy);
    }
  }
}

// Products of more activation rows than this decode two weight tiles per pass (unsplit types):
// the activation tiles' loads serve both. Measured (bench_matmul 576 x 1536, Intel Xeon VM with
// AMX, 1 thread, alternated): Q8_0 / Q4_1 at m = 512 2.95-3.0 / 3.5-3.8 ms with two against
// 3.3-3.5 / 4.2 with one, at m = 64 0.55-0.64 against 0.48-0.52, at m = 16 0.26 against 0.19
// (with one, the decoded rows stay in L1).
constexpr int64_t kTwoTileRows = 4 * kTile;

// TileGemm16Fn for weight format Q.
template <class Q>
void TileGemm16(const WeightMatrix& w, const ActTile16* tiles, int64_t m, float* y, int64_t ldy,
                int64_t row_begin, int64_t row_end) {
  // The tile configuration is per thread and may have been released since the last call.
  static const TileConfig config = MakeTileConfig();
  _tile_loadconfig(&config);
  constexpr int kWide = SplitOf<Q>() ? 1 : 2;  // the split types take one tile per pass
  if (m > kTwoTileRows) {
    TileRows<Q, WeightTile<Q, kWide>>(w, tiles, m, y, ldy, row_begin, row_end);
  } else {
    TileRows<Q, WeightTile<Q, 1>>(w, tiles, m, y, ldy, row_begin, row_end);
  }
  _tile_release();
}

bool UseTiles16(const WeightMatrix& w, int64_t m) {
  return m >= kTileMinRows && IsQuantized(w.dtype);
}

MatMulKernelTable MakeTable() {
  MatMulKernelTable t = Avx512VnniMatMulKernels();
  t.use_tiles16 = &UseTiles16;
  t.pack_tiles16 = &PackTiles16;
  ForEachQuantX86([&t](auto format, DType dtype) {
    t.tile_gemm16[static_cast<int>(dtype)] = &TileGemm16<decltype(format)>;
  });
  return t;
}

}  // namespace

const MatMulKernelTable& AmxMatMulKernels() {
  static const MatMulKernelTable table = MakeTable();
  return table;
}

}  // namespace infer::kernels::cpu
