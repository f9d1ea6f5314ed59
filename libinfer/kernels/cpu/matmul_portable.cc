// Portable (no ISA flags) matrix-product kernels: the fallback on CPUs without AVX2 and the
// structure the SIMD files follow. Activation rows are processed kMr at a time against each
// weight row so that a weight block, once read, serves several rows.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "libinfer/kernels/cpu/matmul_internal.h"
#include "libinfer/util/fp16.h"

namespace infer::kernels::cpu {
namespace {

#define INFER_HALF_TO_FLOAT(h) Fp16ToFp32(h)
#include "libinfer/kernels/cpu/quant_scales.inc"
#undef INFER_HALF_TO_FLOAT

constexpr int kMr = 4;  // activation rows per pass over a weight row

// Block quantization for both activation formats: qmax = 127 (ActBlockQ8) or 32767
// (ActBlockQ16).
template <class Block, int kQmax>
void QuantizeAct(const float* x, int64_t n, Block* out) {
  using Code = std::remove_extent_t<decltype(Block::qs)>;
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float* xb = x + b * kQuantBlock;
    float amax = 0.0f;
    for (int i = 0; i < kQuantBlock; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
    const float d = amax / static_cast<float>(kQmax);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int32_t sum = 0;
    for (int i = 0; i < kQuantBlock; ++i) {
      int q = static_cast<int>(std::nearbyint(xb[i] * id));
      q = q > kQmax ? kQmax : (q < -kQmax ? -kQmax : q);  // x * id may round just past qmax
      out[b].qs[i] = static_cast<Code>(q);
      sum += q;
    }
    out[b].d = d;
    out[b].s = d * static_cast<float>(sum);
  }
}

// Float weights: element loader per type.
struct LoadF32 {
  static float At(const uint8_t* row, int64_t i) {
    float v;
    std::memcpy(&v, row + 4 * i, sizeof(v));
    return v;
  }
};
struct LoadF16 {
  static float At(const uint8_t* row, int64_t i) {
    uint16_t v;
    std::memcpy(&v, row + 2 * i, sizeof(v));
    return Fp16ToFp32(v);
  }
};
struct LoadBF16 {
  static float At(const uint8_t* row, int64_t i) {
    uint16_t v;
    std::memcpy(&v, row + 2 * i, sizeof(v));
    return Bf16ToFp32(v);
  }
};

template <class L, int R>
void FloatTile(const uint8_t* wrow, const float* x, int64_t k, float* y, int64_t ldy) {
  float acc[R] = {};
  for (int64_t c = 0; c < k; ++c) {
    const float wv = L::At(wrow, c);
    for (int r = 0; r < R; ++r) acc[r] += wv * x[r * k + c];
  }
  for (int r = 0; r < R; ++r) y[r * ldy] = acc[r];
}

template <class L>
void GemmFloat(const WeightMatrix& w, const void* xv, int64_t m, float* y, int64_t ldy,
               int64_t row_begin, int64_t row_end) {
  const auto* x = static_cast<const float*>(xv);
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t k = w.cols;
  for (int64_t j = row_begin; j < row_end; ++j) {
    const uint8_t* wrow = base + j * w.row_bytes;
    int64_t i = 0;
    for (; i + kMr <= m; i += kMr) FloatTile<L, kMr>(wrow, x + i * k, k, y + i * ldy + j, ldy);
    for (; i < m; ++i) FloatTile<L, 1>(wrow, x + i * k, k, y + i * ldy + j, ldy);
  }
}

// Quantized weights, one activation block (32 elements) at a time: Q::Codes(wrow, b, q, dw, off)
// gives block b's 32 integer codes and, for its two halves of 16, the scale dw[h] and offset
// off[h] (x = dw[h] * q + off[h]). Types with one scale per 32 (kSplit false) give dw[0] ==
// dw[1] and off[0] == off[1] and are summed as y += dw * dx * dot + off * s; the others per half.
template <class Block>
const Block& BlockAt(const uint8_t* wrow, int64_t index) {
  return reinterpret_cast<const Block*>(wrow)[index];
}

void SetOne(float v, float* pair) { pair[0] = pair[1] = v; }

// The nibble order of Q4_0 and its kin: byte i holds element i low and element 16 + i high.
void Nibbles(const uint8_t* qs, int32_t* q) {
  for (int i = 0; i < kQuantBlock / 2; ++i) {
    q[i] = qs[i] & 0x0f;
    q[i + 16] = qs[i] >> 4;
  }
}

struct QQ8_0 {
  static constexpr bool kSplit = false;
  static void Codes(const uint8_t* wrow, int64_t b, int32_t* q, float* dw, float* off) {
    const auto& blk = BlockAt<BlockQ8_0>(wrow, b);
    // Q8_0 quants are signed: the sign extension is the point.
    for (int i = 0; i < kQuantBlock; ++i) q[i] = blk.qs[i];  // NOLINT(bugprone-signed-char-misuse)
    SetOne(Fp16ToFp32(blk.d), dw);
    SetOne(0.0f, off);
  }
};
struct QQ4_0 {
  static constexpr bool kSplit = false;
  static void Codes(const uint8_t* wrow, int64_t b, int32_t* q, float* dw, float* off) {
    const auto& blk = BlockAt<BlockQ4_0>(wrow, b);
    Nibbles(blk.qs, q);
    SetOne(Fp16ToFp32(blk.d), dw);
    SetOne(-8.0f * dw[0], off);
  }
};
struct QQ4_1 {
  static constexpr bool kSplit = false;
  static void Codes(const uint8_t* wrow, int64_t b, int32_t* q, float* dw, float* off) {
    const auto& blk = BlockAt<BlockQ4_1>(wrow, b);
    Nibbles(blk.qs, q);
    SetOne(Fp16ToFp32(blk.d), dw);
    SetOne(Fp16ToFp32(blk.m), off);
  }
};

// Q5_x: the nibbles plus the fifth bit of element i from bit i of qh.
template <class Block>
void Codes5(const Block& b, int32_t* q) {
  const uint32_t qh = static_cast<uint32_t>(b.qh[0]) | static_cast<uint32_t>(b.qh[1]) << 8 |
                      static_cast<uint32_t>(b.qh[2]) << 16 | static_cast<uint32_t>(b.qh[3]) << 24;
  for (int i = 0; i < kQuantBlock / 2; ++i) {
    q[i] = (b.qs[i] & 0x0f) | static_cast<int32_t>(((qh >> i) & 1) << 4);
    q[i + 16] = (b.qs[i] >> 4) | static_cast<int32_t>(((qh >> (i + 16)) & 1) << 4);
  }
}
struct QQ5_0 {
  static constexpr bool kSplit = false;
  static void Codes(const uint8_t* wrow, int64_t b, int32_t* q, float* dw, float* off) {
    const auto& blk = BlockAt<BlockQ5_0>(wrow, b);
    Codes5(blk, q);
    SetOne(Fp16ToFp32(blk.d), dw);
    SetOne(-16.0f * dw[0], off);
  }
};
struct QQ5_1 {
  static constexpr bool kSplit = false;
  static void Codes(const uint8_t* wrow, int64_t b, int32_t* q, float* dw, float* off) {
    const auto& blk = BlockAt<BlockQ5_1>(wrow, b);
    Codes5(blk, q);
    SetOne(Fp16ToFp32(blk.d), dw);
    SetOne(Fp16ToFp32(blk.m), off);
  }
};

// K-quants and IQ4: activation block b is sub-block j = b % kSubs of superblock b / kSubs (kSubs
// 8 for superblocks of 256; 1 for IQ4_NL's blocks of 32). SubCodes(block, j, q) decodes the codes;
// the scales come from quant_scales.inc.
template <class Block, int kSubs, void (*SubCodes)(const Block&, int, int32_t*)>
struct QSuper {
  static constexpr bool kSplit = true;
  static void Codes(const uint8_t* wrow, int64_t b, int32_t* q, float* dw, float* off) {
    const Block& blk = BlockAt<Block>(wrow, b / kSubs);
    const int j = static_cast<int>(b % kSubs);
    SubCodes(blk, j, q);
    const auto s = ScalesOf(blk);
    for (int h = 0; h < 2; ++h) {
      dw[h] = ScaleOf(s, j, h);
      off[h] = OffsetOf(s, j, h);
    }
  }
};

// Sub-block j of a superblock covers elements 32 j ... 32 j + 31; with c = j / 4 the 128-element
// half and t = j % 4 the quarter in it:
//   Q2_K: 2 bits of qs[32 c + l] at bit 2 t;
//   Q3_K: those 2 bits minus 4 where bit j of hmask[l] is clear;
//   Q4_K: the nibble of qs[32 (j / 2) + l], the high one for odd j; Q5_K adds bit j of qh[l] as 16;
//   Q6_K: the nibble of ql[64 c + 32 (t % 2) + l] (high for t >= 2) plus 16 times the 2 bits of
//         qh[32 c + l] at bit 2 t, minus 32.
void CodesQ2_K(const BlockQ2_K& b, int j, int32_t* q) {
  for (int l = 0; l < 32; ++l) q[l] = (b.qs[32 * (j / 4) + l] >> (2 * (j % 4))) & 3;
}
void CodesQ3_K(const BlockQ3_K& b, int j, int32_t* q) {
  for (int l = 0; l < 32; ++l) {
    const int low = (b.qs[32 * (j / 4) + l] >> (2 * (j % 4))) & 3;
    q[l] = low - (((b.hmask[l] >> j) & 1) != 0 ? 0 : 4);
  }
}
void CodesQ4_K(const BlockQ4_K& b, int j, int32_t* q) {
  for (int l = 0; l < 32; ++l) q[l] = (b.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0x0f;
}
void CodesQ5_K(const BlockQ5_K& b, int j, int32_t* q) {
  for (int l = 0; l < 32; ++l) {
    q[l] = ((b.qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 0x0f) | (((b.qh[l] >> j) & 1) << 4);
  }
}
void CodesQ6_K(const BlockQ6_K& b, int j, int32_t* q) {
  const int c = j / 4;
  const int t = j % 4;
  for (int l = 0; l < 32; ++l) {
    const int low = (b.ql[64 * c + 32 * (t % 2) + l] >> (4 * (t / 2))) & 0x0f;
    const int high = (b.qh[32 * c + l] >> (2 * t)) & 3;
    q[l] = (low | high << 4) - 32;
  }
}
void CodesIQ4_NL(const BlockIQ4_NL& b, int, int32_t* q) {
  Nibbles(b.qs, q);
  // The table's values are signed: the sign extension is the point.
  for (int l = 0; l < 32; ++l) q[l] = kIq4Values[q[l]];  // NOLINT(bugprone-signed-char-misuse)
}
void CodesIQ4_XS(const BlockIQ4_XS& b, int j, int32_t* q) {
  Nibbles(b.qs + 16 * j, q);
  // The table's values are signed: the sign extension is the point.
  for (int l = 0; l < 32; ++l) q[l] = kIq4Values[q[l]];  // NOLINT(bugprone-signed-char-misuse)
}

using QQ2_K = QSuper<BlockQ2_K, 8, &CodesQ2_K>;
using QQ3_K = QSuper<BlockQ3_K, 8, &CodesQ3_K>;
using QQ4_K = QSuper<BlockQ4_K, 8, &CodesQ4_K>;
using QQ5_K = QSuper<BlockQ5_K, 8, &CodesQ5_K>;
using QQ6_K = QSuper<BlockQ6_K, 8, &CodesQ6_K>;
using QIQ4_NL = QSuper<BlockIQ4_NL, 1, &CodesIQ4_NL>;
using QIQ4_XS = QSuper<BlockIQ4_XS, 8, &CodesIQ4_XS>;

template <class Q, class A, int R>
void QuantTile(const uint8_t* wrow, const A* x, int64_t nb, float* y, int64_t ldy) {
  float acc[R] = {};
  int32_t q[kQuantBlock];
  for (int64_t b = 0; b < nb; ++b) {
    float dw[2];
    float off[2];
    Q::Codes(wrow, b, q, dw, off);
    for (int r = 0; r < R; ++r) {
      const A& a = x[r * nb + b];
      if constexpr (Q::kSplit) {
        float half_sum = 0.0f;
        for (int h = 0; h < 2; ++h) {
          int32_t dot = 0;
          int32_t codes = 0;
          for (int i = 16 * h; i < 16 * h + 16; ++i) {
            dot += q[i] * a.qs[i];
            codes += a.qs[i];
          }
          half_sum += dw[h] * static_cast<float>(dot) + off[h] * static_cast<float>(codes);
        }
        acc[r] += a.d * half_sum;
      } else {
        int32_t dot = 0;
        for (int i = 0; i < kQuantBlock; ++i) dot += q[i] * a.qs[i];
        acc[r] += dw[0] * a.d * static_cast<float>(dot) + off[0] * a.s;
      }
    }
  }
  for (int r = 0; r < R; ++r) y[r * ldy] = acc[r];
}

// A: the activation block type (ActBlockQ8 or ActBlockQ16). The per-block integer dot fits
// int32 for both: 32 * 128 * 32767 < 2^31.
template <class Q, class A>
void GemmQuant(const WeightMatrix& w, const void* xv, int64_t m, float* y, int64_t ldy,
               int64_t row_begin, int64_t row_end) {
  const auto* x = static_cast<const A*>(xv);
  const auto* base = static_cast<const uint8_t*>(w.data);
  const int64_t nb = w.cols / kQuantBlock;
  for (int64_t j = row_begin; j < row_end; ++j) {
    const uint8_t* wrow = base + j * w.row_bytes;
    int64_t i = 0;
    for (; i + kMr <= m; i += kMr) QuantTile<Q, A, kMr>(wrow, x + i * nb, nb, y + i * ldy + j, ldy);
    for (; i < m; ++i) QuantTile<Q, A, 1>(wrow, x + i * nb, nb, y + i * ldy + j, ldy);
  }
}

// The portable kernel table and, from the same registrations, each quantized type's block
// decoder (DecodeQuantBlock).
using DecodeFn = void (*)(const uint8_t* row, int64_t b, int32_t* q, float* scale, float* offset);
struct PortableTables {
  MatMulKernelTable kernels;
  DecodeFn decode[kNumDTypes];  // null for the float types
};

// The portable kernels take no groups.
template <class Q>
void GemmQuant16(const WeightMatrix& w, const ActBlockQ16* x, const ActGroup16*, int64_t m,
                 float* y, int64_t ldy, int64_t row_begin, int64_t row_end) {
  GemmQuant<Q, ActBlockQ16>(w, x, m, y, ldy, row_begin, row_end);
}

template <class Q>
void SetQuant(PortableTables* t, DType dtype) {
  t->kernels.gemm[static_cast<int>(dtype)] = &GemmQuant<Q, ActBlockQ8>;
  t->kernels.gemm16[static_cast<int>(dtype)] = &GemmQuant16<Q>;
  t->decode[static_cast<int>(dtype)] = &Q::Codes;
}

PortableTables MakeTables() {
  PortableTables t{};
  t.kernels.quantize_act = &QuantizeAct<ActBlockQ8, 127>;
  t.kernels.quantize_act16 = &QuantizeAct<ActBlockQ16, 32767>;
  t.kernels.gemm[static_cast<int>(DType::kF32)] = &GemmFloat<LoadF32>;
  t.kernels.gemm[static_cast<int>(DType::kF16)] = &GemmFloat<LoadF16>;
  t.kernels.gemm[static_cast<int>(DType::kBF16)] = &GemmFloat<LoadBF16>;
  SetQuant<QQ8_0>(&t, DType::kQ8_0);
  SetQuant<QQ4_0>(&t, DType::kQ4_0);
  SetQuant<QQ4_1>(&t, DType::kQ4_1);
  SetQuant<QQ5_0>(&t, DType::kQ5_0);
  SetQuant<QQ5_1>(&t, DType::kQ5_1);
  SetQuant<QQ2_K>(&t, DType::kQ2_K);
  SetQuant<QQ3_K>(&t, DType::kQ3_K);
  SetQuant<QQ4_K>(&t, DType::kQ4_K);
  SetQuant<QQ5_K>(&t, DType::kQ5_K);
  SetQuant<QQ6_K>(&t, DType::kQ6_K);
  SetQuant<QIQ4_NL>(&t, DType::kIQ4_NL);
  SetQuant<QIQ4_XS>(&t, DType::kIQ4_XS);
  return t;
}

const PortableTables& Tables() {
  static const PortableTables tables = MakeTables();
  return tables;
}

}  // namespace

bool DecodeQuantBlock(DType dtype, const uint8_t* row, int64_t b, int32_t* q, float* scale,
                      float* offset) {
  const DecodeFn decode = Tables().decode[static_cast<int>(dtype)];
  if (decode == nullptr) return false;
  decode(row, b, q, scale, offset);
  return true;
}

const MatMulKernelTable& PortableMatMulKernels() { return Tables().kernels; }

}  // namespace infer::kernels::cpu
