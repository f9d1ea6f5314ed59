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

// Quantized weights: per block, the integer dot product of the 32 weight codes with the
// activation codes, then y += dw * dx * dot + offset * s (offset: 0, -8 * dw, or min).
struct QQ8_0 {
  static constexpr int64_t kBytes = sizeof(BlockQ8_0);
  static void Codes(const uint8_t* blk, int32_t* q, float* dw, float* off) {
    BlockQ8_0 b;
    std::memcpy(&b, blk, sizeof(b));
    // Q8_0 quants are signed: the sign extension is the point.
    for (int i = 0; i < kQuantBlock; ++i) q[i] = b.qs[i];  // NOLINT(bugprone-signed-char-misuse)
    *dw = Fp16ToFp32(b.d);
    *off = 0.0f;
  }
};
struct QQ4_0 {
  static constexpr int64_t kBytes = sizeof(BlockQ4_0);
  static void Codes(const uint8_t* blk, int32_t* q, float* dw, float* off) {
    BlockQ4_0 b;
    std::memcpy(&b, blk, sizeof(b));
    for (int i = 0; i < kQuantBlock / 2; ++i) {
      q[i] = b.qs[i] & 0x0f;
      q[i + 16] = b.qs[i] >> 4;
    }
    *dw = Fp16ToFp32(b.d);
    *off = -8.0f * *dw;
  }
};
struct QQ4_1 {
  static constexpr int64_t kBytes = sizeof(BlockQ4_1);
  static void Codes(const uint8_t* blk, int32_t* q, float* dw, float* off) {
    BlockQ4_1 b;
    std::memcpy(&b, blk, sizeof(b));
    for (int i = 0; i < kQuantBlock / 2; ++i) {
      q[i] = b.qs[i] & 0x0f;
      q[i + 16] = b.qs[i] >> 4;
    }
    *dw = Fp16ToFp32(b.d);
    *off = Fp16ToFp32(b.m);
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
  static constexpr int64_t kBytes = sizeof(BlockQ5_0);
  static void Codes(const uint8_t* blk, int32_t* q, float* dw, float* off) {
    BlockQ5_0 b;
    std::memcpy(&b, blk, sizeof(b));
    Codes5(b, q);
    *dw = Fp16ToFp32(b.d);
    *off = -16.0f * *dw;
  }
};
struct QQ5_1 {
  static constexpr int64_t kBytes = sizeof(BlockQ5_1);
  static void Codes(const uint8_t* blk, int32_t* q, float* dw, float* off) {
    BlockQ5_1 b;
    std::memcpy(&b, blk, sizeof(b));
    Codes5(b, q);
    *dw = Fp16ToFp32(b.d);
    *off = Fp16ToFp32(b.m);
  }
};

template <class Q, class A, int R>
void QuantTile(const uint8_t* wrow, const A* x, int64_t nb, float* y, int64_t ldy) {
  float acc[R] = {};
  int32_t q[kQuantBlock];
  for (int64_t b = 0; b < nb; ++b) {
    float dw;
    float off;
    Q::Codes(wrow + b * Q::kBytes, q, &dw, &off);
    for (int r = 0; r < R; ++r) {
      const A& a = x[r * nb + b];
      int32_t dot = 0;
      for (int i = 0; i < kQuantBlock; ++i) dot += q[i] * a.qs[i];
      acc[r] += dw * a.d * static_cast<float>(dot) + off * a.s;
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

MatMulKernelTable MakeTable() {
  MatMulKernelTable t{};
  t.quantize_act = &QuantizeAct<ActBlockQ8, 127>;
  t.quantize_act16 = &QuantizeAct<ActBlockQ16, 32767>;
  t.gemm[static_cast<int>(DType::kF32)] = &GemmFloat<LoadF32>;
  t.gemm[static_cast<int>(DType::kF16)] = &GemmFloat<LoadF16>;
  t.gemm[static_cast<int>(DType::kBF16)] = &GemmFloat<LoadBF16>;
  t.gemm[static_cast<int>(DType::kQ8_0)] = &GemmQuant<QQ8_0, ActBlockQ8>;
  t.gemm[static_cast<int>(DType::kQ4_0)] = &GemmQuant<QQ4_0, ActBlockQ8>;
  t.gemm[static_cast<int>(DType::kQ4_1)] = &GemmQuant<QQ4_1, ActBlockQ8>;
  t.gemm16[static_cast<int>(DType::kQ8_0)] = &GemmQuant<QQ8_0, ActBlockQ16>;
  t.gemm16[static_cast<int>(DType::kQ4_0)] = &GemmQuant<QQ4_0, ActBlockQ16>;
  t.gemm16[static_cast<int>(DType::kQ4_1)] = &GemmQuant<QQ4_1, ActBlockQ16>;
  t.gemm[static_cast<int>(DType::kQ5_0)] = &GemmQuant<QQ5_0, ActBlockQ8>;
  t.gemm[static_cast<int>(DType::kQ5_1)] = &GemmQuant<QQ5_1, ActBlockQ8>;
  t.gemm16[static_cast<int>(DType::kQ5_0)] = &GemmQuant<QQ5_0, ActBlockQ16>;
  t.gemm16[static_cast<int>(DType::kQ5_1)] = &GemmQuant<QQ5_1, ActBlockQ16>;
  return t;
}

}  // namespace

const MatMulKernelTable& PortableMatMulKernels() {
  static const MatMulKernelTable table = MakeTable();
  return table;
}

}  // namespace infer::kernels::cpu
