// Internals of the CPU matrix product (matmul.h): the per-ISA kernel tables and a way to run
// MatMul at a chosen ISA level (for tests and benchmarks). Not installed.
//
// Each ISA level lives in its own translation unit compiled with that level's flags
// (matmul_portable.cc, matmul_avx2.cc, matmul_avx512.cc). Those files must not define or
// instantiate anything with external linkage other than their table getter: an inline function
// compiled with AVX-512 flags could otherwise be the copy the linker keeps for everyone.
#ifndef INFER_KERNELS_CPU_MATMUL_INTERNAL_H_
#define INFER_KERNELS_CPU_MATMUL_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "libinfer/kernels/cpu/matmul.h"
#include "libinfer/tensor/dtype.h"
#include "libinfer/util/cpu_features.h"

namespace infer::kernels::cpu {

// The levels and their rule are util/cpu_features.h's.
using ::infer::CpuLevel;
using ::infer::CpuLevelString;

// The level MatMul uses here: SelectedCpuLevel() where the x86 kernels are compiled in.
CpuLevel DetectedCpuLevel();

// Whether kernels of `level` can run here (compiled in and supported by the CPU, ignoring
// INFER_CPU_LEVEL).
bool CpuLevelAvailable(CpuLevel level);

// One activation block in the form the quantized kernels take: 32 values x ~= d * qs[i], with
// s = d * sum(qs) precomputed so that weight formats with an offset (Q4_0's -8, Q4_1's min) cost
// one multiply-add per block instead of a second integer dot product.
struct ActBlockQ8 {
  float d;
  float s;
  int8_t qs[kQuantBlock];
};
static_assert(sizeof(ActBlockQ8) == 40);

// The same with 16-bit codes (ActPrecision::kInt16): x ~= d * qs[i], |qs[i]| <= 32767,
// s = d * sum(qs).
struct ActBlockQ16 {
  float d;
  float s;
  int16_t qs[kQuantBlock];
};
static_assert(sizeof(ActBlockQ16) == 72);

// Quantizes n floats (n % 32 == 0) into n / 32 blocks: d = max|x| / 127, q = round(x / d).
using QuantizeActFn = void (*)(const float* x, int64_t n, ActBlockQ8* out);
// The same with d = max|x| / 32767 and 16-bit codes.
using QuantizeAct16Fn = void (*)(const float* x, int64_t n, ActBlockQ16* out);

// Computes y[i * ldy + j] = dot(x row i, W row j) for i < m and row_begin <= j < row_end.
// For float weight types x points at m rows of w.cols floats; for quantized weight types it
// points at m rows of w.cols / 32 ActBlockQ8 (MatMulKernelTable::gemm) each.
using GemmFn = void (*)(const WeightMatrix& w, const void* x, int64_t m, float* y, int64_t ldy,
                        int64_t row_begin, int64_t row_end);

// Block b of eight consecutive activation rows (ActBlockQ16) interleaved for the grouped int16
// kernels: pairs[p][i] holds row i's codes 2p (low half) and 2p + 1; d and s are the rows';
// s_lo / s_hi are d times the sum of codes 0..15 / 16..31 (only where asked for: the types with
// an offset per 16 elements).
struct ActGroup16 {
  int32_t pairs[16][8];
  float d[8];
  float s[8];
  float s_lo[8];
  float s_hi[8];
};
static_assert(sizeof(ActGroup16) == 640);

// Interleaves rows x[0, 8) (nb blocks each, consecutive) into nb ActGroup16, with the half sums
// where `half_sums`.
using InterleaveAct16Fn = void (*)(const ActBlockQ16* x, int64_t nb, bool half_sums,
                                   ActGroup16* out);

// GemmFn for int16 activations: x is m rows of w.cols / 32 ActBlockQ16; `groups`, when not null,
// holds rows [0, 8 * (m / 8)) interleaved as well (group g's block b at groups[g * nb + b]),
// which the grouped kernels use for those rows (the same results).
using Gemm16Fn = void (*)(const WeightMatrix& w, const ActBlockQ16* x, const ActGroup16* groups,
                          int64_t m, float* y, int64_t ldy, int64_t row_begin, int64_t row_end);

// Activation rows per AMX tile.
constexpr int kTileRows = 16;

// Block b of sixteen consecutive activation rows (ActBlockQ16) in the layout AMX's int8 tile
// products take as their second operand: each code x = 256 * hi + lo, hi signed, lo unsigned;
// hi[k][4 n + e] is row n's code 4 k + e's high byte, lo the same for the low bytes (so a
// tile product of 32 weight codes against hi and one against lo give each row's exact dot as
// 256 * dot_hi + dot_lo). d, s, s_lo, s_hi as ActGroup16's (s_lo / s_hi always filled). Rows
// past the matrix's last are zero.
struct ActTile16 {
  int8_t hi[8][64];
  uint8_t lo[8][64];
  float d[kTileRows];
  float s[kTileRows];
  float s_lo[kTileRows];
  float s_hi[kTileRows];
};
static_assert(sizeof(ActTile16) == 1280);

// Packs rows x[0, rows) (rows <= kTileRows, nb blocks each, consecutive) into nb ActTile16.
using PackTiles16Fn = void (*)(const ActBlockQ16* x, int64_t rows, int64_t nb, ActTile16* out);

// Whether the tile kernels take this product of m rows (int16 activations).
using UseTiles16Fn = bool (*)(const WeightMatrix& w, int64_t m);

// Gemm16Fn for rows packed in tiles: (m + 15) / 16 tiles of w.cols / 32 blocks each (tile t's
// block b at tiles[t * nb + b]); the same results as the level's gemm16.
using TileGemm16Fn = void (*)(const WeightMatrix& w, const ActTile16* tiles, int64_t m, float* y,
                              int64_t ldy, int64_t row_begin, int64_t row_end);

// An aggregate without default member initializers on purpose: value-initialize it
// (`MatMulKernelTable t{};`) so that no constructor function is emitted by the ISA files.
struct MatMulKernelTable {
  QuantizeActFn quantize_act;
  QuantizeAct16Fn quantize_act16;
  // Null where no gemm16 kernel uses groups.
  InterleaveAct16Fn interleave_act16;
  GemmFn gemm[kNumDTypes];  // indexed by static_cast<int>(DType); quantized ones take ActBlockQ8
  Gemm16Fn gemm16[kNumDTypes];   // quantized weight types only (others null)
  bool groups16[kNumDTypes];     // whether gemm16 for that type uses `groups`
  bool half_sums16[kNumDTypes];  // whether those groups need ActGroup16::s_lo / s_hi
  // The AMX level's: products with int16 activations that use_tiles16 accepts take
  // pack_tiles16 and tile_gemm16 instead of the above. Null elsewhere.
  UseTiles16Fn use_tiles16;
  PackTiles16Fn pack_tiles16;
  TileGemm16Fn tile_gemm16[kNumDTypes];
};

// Table getters, one per translation unit. The AVX2/AVX-512 ones exist only on x86 builds.
const MatMulKernelTable& PortableMatMulKernels();
#if defined(INFER_KERNELS_X86)
const MatMulKernelTable& Avx2MatMulKernels();
// Float kernels with 512-bit registers; quantized kernels with AVX512-VNNI dot products.
// Only valid where the CPU has AVX-512 F/BW/VL and VNNI.
const MatMulKernelTable& Avx512VnniMatMulKernels();
#endif
#if defined(INFER_KERNELS_AMX)
// Avx512VnniMatMulKernels() plus the AMX tile kernels for the int16 products of many rows. Only
// valid where the CPU has AMX-TILE and AMX-INT8 and the process may use them (CpuFeatures::amx).
const MatMulKernelTable& AmxMatMulKernels();
#endif

// Whether `dtype` is stored in blocks of integer codes (every type but F32, F16 and BF16).
bool IsQuantized(DType dtype);

// Activation block `b` (elements 32 b ... 32 b + 31) of a row of quantized weights: its 32
// integer codes and, for its first and second 16 elements, the scale and offset with
// x = scale[h] * q + offset[h]. The portable decoding, one place for DequantizeRow and the
// portable kernels. False for float types.
bool DecodeQuantBlock(DType dtype, const uint8_t* row, int64_t b, int32_t* q, float* scale,
                      float* offset);

// The table MatMul uses at `level` (which must be available).
const MatMulKernelTable& MatMulKernelsFor(CpuLevel level);

// MatMul (see matmul.h) with the kernels of `level`, which must be available.
void MatMulWithLevel(CpuLevel level, const WeightMatrix& w, const float* x, int64_t m, float* y,
                     int64_t ldy, ThreadPool* pool, MatMulScratch* scratch);

// MatMulShared with the kernels of `level`.
void MatMulSharedWithLevel(CpuLevel level, std::span<const MatMulProduct> products, const float* x,
                           int64_t m, ThreadPool* pool, MatMulScratch* scratch);

// The tiling of float-weight products shared by every ISA: rows [row_begin, row_end) of `w` are
// walked in tiles of about `tile_bytes` (so a tile stays in L1/L2 while activation rows stream
// past), four activation rows at a time, then the 1-3 left over. `tile(r, wrow, x, k, y, ldy)`
// computes y[i * ldy] for R = r.value activation rows against one weight row;
// r is std::integral_constant<int, R>. Each ISA's translation unit passes its own lambda, so
// every instantiation is private to that unit.
template <class TileFn>
inline void ForEachFloatTile(const WeightMatrix& w, const float* x, int64_t m, float* y,
                             int64_t ldy, int64_t row_begin, int64_t row_end, int64_t tile_bytes,
                             TileFn tile) {
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t k = w.cols;
  int64_t rows_per_tile = w.row_bytes > 0 ? tile_bytes / static_cast<int64_t>(w.row_bytes) : 1;
  if (rows_per_tile < 1) rows_per_tile = 1;
  for (int64_t j0 = row_begin; j0 < row_end; j0 += rows_per_tile) {
    const int64_t j1 = j0 + rows_per_tile < row_end ? j0 + rows_per_tile : row_end;
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) {
      for (int64_t j = j0; j < j1; ++j) {
        tile(std::integral_constant<int, 4>{}, base + j * w.row_bytes, x + i * k, k,
             y + i * ldy + j, ldy);
      }
    }
    const int64_t rest = m - i;
    for (int64_t j = j0; j < j1; ++j) {
      const uint8_t* wrow = base + j * w.row_bytes;
      float* yj = y + i * ldy + j;
      const float* xi = x + i * k;
      if (rest == 3) tile(std::integral_constant<int, 3>{}, wrow, xi, k, yj, ldy);
      if (rest == 2) tile(std::integral_constant<int, 2>{}, wrow, xi, k, yj, ldy);
      if (rest == 1) tile(std::integral_constant<int, 1>{}, wrow, xi, k, yj, ldy);
    }
  }
}

}  // namespace infer::kernels::cpu

#endif  // INFER_KERNELS_CPU_MATMUL_INTERNAL_H_
