// Tests of the CPU matrix product (libinfer/kernels/cpu/matmul.h) at every ISA level the CPU
// has, against an independent double-precision reference that decodes the GGML block layouts
// itself (it shares no code with the library, not even the fp16 conversion).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "libinfer/kernels/cpu/matmul.h"
#include "libinfer/kernels/cpu/matmul_internal.h"

namespace infer::kernels::cpu {
namespace {

constexpr double kFloatEps = 1.0 / (1 << 24);  // unit roundoff of float

// Every kernel level; those the CPU lacks skip.
constexpr CpuLevel kAllLevels[] = {CpuLevel::kPortable, CpuLevel::kAvx2, CpuLevel::kAvx512,
                                   CpuLevel::kAmx};

// ---- independent reference decoding ---------------------------------------------------------

double HalfToDouble(uint16_t h) {
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  const double v = exp == 0 ? std::ldexp(mant, -24) : std::ldexp(1024 + mant, exp - 25);
  return (h & 0x8000) ? -v : v;
}

double Bf16ToDouble(uint16_t b) {
  const int exp = (b >> 7) & 0xff;
  const int mant = b & 0x7f;
  const double v = exp == 0 ? std::ldexp(mant, -133) : std::ldexp(128 + mant, exp - 134);
  return (b & 0x8000) ? -v : v;
}

uint16_t Read16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// IQ4_NL / IQ4_XS values, as GGML defines them.
constexpr int kIq4Table[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                               1,    13,   25,  38,  53,  69,  89,  113};

int64_t SuperBytes(DType dtype) {
  switch (dtype) {
    case DType::kQ2_K:
      return 84;
    case DType::kQ3_K:
      return 110;
    case DType::kQ4_K:
      return 144;
    case DType::kQ5_K:
      return 176;
    case DType::kQ6_K:
      return 210;
    case DType::kIQ4_XS:
      return 136;
    default:
      return 0;
  }
}

// Element i (0..255) of a K-quant / IQ4_XS superblock as scale * code + offset, decoded from
// GGML's layouts element by element (the library decodes whole sub-blocks).
void ReferenceSuperElement(DType dtype, const uint8_t* blk, int i, double* scale, double* code,
                           double* offset) {
  const int l = i % 32;              // place in its run of 32
  const int half = i / 128;          // which 128 elements
  const int quarter = (i / 32) % 4;  // which 32 within them
  const int sub = i / 32;            // sub-block of 32
  const int group = i / 16;          // group of 16
  switch (dtype) {
    case DType::kQ2_K: {  // scales[16], qs[64], d, dmin
      const double d = HalfToDouble(Read16(blk + 80));
      const double dmin = HalfToDouble(Read16(blk + 82));
      const int sc = blk[group];
      *code = (blk[16 + 32 * half + l] >> (2 * quarter)) & 3;
      *scale = d * (sc & 15);
      *offset = -dmin * (sc >> 4);
      return;
    }
    case DType::kQ3_K: {  // hmask[32], qs[64], scales[12], d
      const uint8_t* sc = blk + 96;
      const int low = group < 8 ? (sc[group] & 15) : (sc[group - 8] >> 4);
      const int high = (sc[8 + group % 4] >> (2 * (group / 4))) & 3;
      const int q2 = (blk[32 + 32 * half + l] >> (2 * quarter)) & 3;
      const bool hbit = (blk[l] >> sub) & 1;
      *code = q2 - (hbit ? 0 : 4);
      *scale = HalfToDouble(Read16(blk + 108)) * ((low | (high << 4)) - 32);
      *offset = 0.0;
      return;
    }
    case DType::kQ4_K:
    case DType::kQ5_K: {  // d, dmin, scales[12], [qh[32],] qs[128]
      const double d = HalfToDouble(Read16(blk));
      const double dmin = HalfToDouble(Read16(blk + 2));
      const uint8_t* s = blk + 4;
      int sc;
      int mn;
      if (sub < 4) {
        sc = s[sub] & 63;
        mn = s[4 + sub] & 63;
      } else {
        sc = (s[8 + sub - 4] & 15) | ((s[sub - 4] >> 2) & 0x30);
        mn = (s[8 + sub - 4] >> 4) | ((s[4 + sub - 4] >> 2) & 0x30);
      }
      const bool five = dtype == DType::kQ5_K;
      const uint8_t* qs = blk + (five ? 48 : 16);
      int q = (qs[32 * (i / 64) + l] >> (4 * ((i % 64) / 32))) & 15;
      if (five) q += 16 * ((blk[16 + l] >> sub) & 1);
      *code = q;
      *scale = d * sc;
      *offset = -dmin * mn;
      return;
    }
    case DType::kQ6_K: {  // ql[128], qh[64], scales[16] (int8), d
      const int p = i % 128;
      const int lo = (blk[64 * half + p % 64] >> (4 * (p / 64))) & 15;
      const int hi = (blk[128 + 32 * half + p % 32] >> (2 * (p / 32))) & 3;
      *code = (lo | (hi << 4)) - 32;
      *scale = HalfToDouble(Read16(blk + 208)) * static_cast<int8_t>(blk[192 + group]);
      *offset = 0.0;
      return;
    }
    case DType::kIQ4_XS: {  // d, scales_h (u16), scales_l[4], qs[128]
      const int sh = Read16(blk + 2);
      const int ls = ((blk[4 + sub / 2] >> (4 * (sub % 2))) & 15) | (((sh >> (2 * sub)) & 3) << 4);
      const uint8_t* qs = blk + 8 + 16 * sub;
      const int nibble = l < 16 ? (qs[l] & 15) : (qs[l - 16] >> 4);
      *code = kIq4Table[nibble];
      *scale = HalfToDouble(Read16(blk)) * (ls - 32);
      *offset = 0.0;
      return;
    }
    default:
      return;
  }
}

// One weight row decoded per the GGML definitions, plus for each element the magnitude of the
// terms the kernels add up (|d * code| + |offset|), which bounds their float rounding error.
void ReferenceRow(DType dtype, const uint8_t* row, int64_t k, std::vector<double>* w,
                  std::vector<double>* mag) {
  w->assign(k, 0.0);
  mag->assign(k, 0.0);
  switch (dtype) {
    case DType::kF32:
      for (int64_t i = 0; i < k; ++i) {
        float f;
        std::memcpy(&f, row + 4 * i, 4);
        (*w)[i] = f;
      }
      break;
    case DType::kF16:
      for (int64_t i = 0; i < k; ++i) (*w)[i] = HalfToDouble(Read16(row + 2 * i));
      break;
    case DType::kBF16:
      for (int64_t i = 0; i < k; ++i) (*w)[i] = Bf16ToDouble(Read16(row + 2 * i));
      break;
    case DType::kQ8_0:
      for (int64_t b = 0; b < k / 32; ++b) {
        const uint8_t* blk = row + 34 * b;
        const double d = HalfToDouble(Read16(blk));
        for (int j = 0; j < 32; ++j) {
          (*w)[32 * b + j] = d * static_cast<int8_t>(blk[2 + j]);
        }
      }
      break;
    case DType::kQ4_0:
      for (int64_t b = 0; b < k / 32; ++b) {
        const uint8_t* blk = row + 18 * b;
        const double d = HalfToDouble(Read16(blk));
        for (int j = 0; j < 16; ++j) {
          const int lo = blk[2 + j] & 15;
          const int hi = blk[2 + j] >> 4;
          (*w)[32 * b + j] = d * (lo - 8);
          (*w)[32 * b + j + 16] = d * (hi - 8);
          (*mag)[32 * b + j] = std::fabs(d) * (lo + 8);
          (*mag)[32 * b + j + 16] = std::fabs(d) * (hi + 8);
        }
      }
      return;
    case DType::kQ4_1:
      for (int64_t b = 0; b < k / 32; ++b) {
        const uint8_t* blk = row + 20 * b;
        const double d = HalfToDouble(Read16(blk));
        const double m = HalfToDouble(Read16(blk + 2));
        for (int j = 0; j < 16; ++j) {
          const int lo = blk[4 + j] & 15;
          const int hi = blk[4 + j] >> 4;
          (*w)[32 * b + j] = d * lo + m;
          (*w)[32 * b + j + 16] = d * hi + m;
          (*mag)[32 * b + j] = std::fabs(d) * lo + std::fabs(m);
          (*mag)[32 * b + j + 16] = std::fabs(d) * hi + std::fabs(m);
        }
      }
      return;
    case DType::kQ5_0:
    case DType::kQ5_1: {
      // d, [m,] qh (bit i: the fifth bit of element i), nibbles; Q5_0's offset is -16 d.
      const bool has_min = dtype == DType::kQ5_1;
      const int64_t bytes = has_min ? 24 : 22;
      for (int64_t b = 0; b < k / 32; ++b) {
        const uint8_t* blk = row + bytes * b;
        const double d = HalfToDouble(Read16(blk));
        const double m = has_min ? HalfToDouble(Read16(blk + 2)) : -16.0 * d;
        const uint8_t* qh = blk + (has_min ? 4 : 2);
        const uint8_t* qs = qh + 4;
        for (int j = 0; j < 32; ++j) {
          const int nibble = j < 16 ? (qs[j] & 15) : (qs[j - 16] >> 4);
          const int code = nibble + 16 * ((qh[j / 8] >> (j % 8)) & 1);
          (*w)[32 * b + j] = d * code + m;
          (*mag)[32 * b + j] = std::fabs(d) * code + std::fabs(m);
        }
      }
      return;
    }
    case DType::kIQ4_NL:
      for (int64_t b = 0; b < k / 32; ++b) {
        const uint8_t* blk = row + 18 * b;
        const double d = HalfToDouble(Read16(blk));
        for (int i = 0; i < 32; ++i) {
          const int nibble = i < 16 ? (blk[2 + i] & 15) : (blk[2 + i - 16] >> 4);
          (*w)[32 * b + i] = d * kIq4Table[nibble];
        }
      }
      break;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kIQ4_XS:
      for (int64_t b = 0; b < k / 256; ++b) {
        for (int i = 0; i < 256; ++i) {
          double scale = 0.0;
          double offset = 0.0;
          double code = 0.0;
          ReferenceSuperElement(dtype, row + b * SuperBytes(dtype), i, &scale, &code, &offset);
          (*w)[256 * b + i] = scale * code + offset;
          (*mag)[256 * b + i] = std::fabs(scale * code) + std::fabs(offset);
        }
      }
      return;
  }
  for (int64_t i = 0; i < k; ++i) (*mag)[i] = std::fabs((*w)[i]);
}

// ---- random weights -------------------------------------------------------------------------

int64_t RowBytes(DType dtype, int64_t k) {
  switch (dtype) {
    case DType::kF32:
      return 4 * k;
    case DType::kF16:
    case DType::kBF16:
      return 2 * k;
    case DType::kQ8_0:
      return k / 32 * 34;
    case DType::kQ4_0:
      return k / 32 * 18;
    case DType::kQ4_1:
      return k / 32 * 20;
    case DType::kQ5_0:
      return k / 32 * 22;
    case DType::kQ5_1:
      return k / 32 * 24;
    case DType::kIQ4_NL:
      return k / 32 * 18;
    default:
      return k / 256 * SuperBytes(dtype);
  }
}

// A random fp16 with exponent field in [emin, emax] (normal numbers) and a random sign.
uint16_t RandomHalf(std::mt19937& rng, int emin, int emax, bool negative_ok) {
  const int exp = std::uniform_int_distribution<int>(emin, emax)(rng);
  const int mant = std::uniform_int_distribution<int>(0, 1023)(rng);
  const int sign = negative_ok ? std::uniform_int_distribution<int>(0, 1)(rng) : 0;
  return static_cast<uint16_t>((sign << 15) | (exp << 10) | mant);
}

void Write16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v & 0xff);
  p[1] = static_cast<uint8_t>(v >> 8);
}

// Fills one row of `dtype` with random content typical of real weights.
void RandomRow(DType dtype, int64_t k, std::mt19937& rng, uint8_t* row) {
  std::uniform_int_distribution<int> byte(0, 255);
  switch (dtype) {
    case DType::kF32:
      for (int64_t i = 0; i < k; ++i) {
        const float f = std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng);
        std::memcpy(row + 4 * i, &f, 4);
      }
      return;
    case DType::kF16:
      for (int64_t i = 0; i < k; ++i) Write16(row + 2 * i, RandomHalf(rng, 8, 16, true));
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < k; ++i) {
        const int exp = std::uniform_int_distribution<int>(118, 128)(rng);
        const uint16_t b =
            static_cast<uint16_t>((byte(rng) & 1) << 15 | exp << 7 | (byte(rng) & 0x7f));
        Write16(row + 2 * i, b);
      }
      return;
    case DType::kQ8_0:
      for (int64_t b = 0; b < k / 32; ++b) {
        uint8_t* blk = row + 34 * b;
        Write16(blk, RandomHalf(rng, 5, 12, true));
        for (int j = 0; j < 32; ++j) blk[2 + j] = static_cast<uint8_t>(byte(rng));
        blk[2] = 0x80;  // -128: the one code whose |w| needs all 8 bits
      }
      return;
    case DType::kQ4_0:
      for (int64_t b = 0; b < k / 32; ++b) {
        uint8_t* blk = row + 18 * b;
        Write16(blk, RandomHalf(rng, 5, 12, true));
        for (int j = 0; j < 16; ++j) blk[2 + j] = static_cast<uint8_t>(byte(rng));
      }
      return;
    case DType::kQ4_1:
      for (int64_t b = 0; b < k / 32; ++b) {
        uint8_t* blk = row + 20 * b;
        Write16(blk, RandomHalf(rng, 5, 12, true));
        Write16(blk + 2, RandomHalf(rng, 5, 14, true));
        for (int j = 0; j < 16; ++j) blk[4 + j] = static_cast<uint8_t>(byte(rng));
      }
      return;
    case DType::kQ5_0:
    case DType::kQ5_1: {
      const bool has_min = dtype == DType::kQ5_1;
      const int64_t bytes = has_min ? 24 : 22;
      for (int64_t b = 0; b < k / 32; ++b) {
        uint8_t* blk = row + bytes * b;
        Write16(blk, RandomHalf(rng, 5, 12, true));
        if (has_min) Write16(blk + 2, RandomHalf(rng, 5, 14, true));
        for (int j = has_min ? 4 : 2; j < bytes; ++j) blk[j] = static_cast<uint8_t>(byte(rng));
      }
      return;
    }
    case DType::kIQ4_NL:
      for (int64_t b = 0; b < k / 32; ++b) {
        uint8_t* blk = row + 18 * b;
        Write16(blk, RandomHalf(rng, 5, 10, true));
        for (int j = 2; j < 18; ++j) blk[j] = static_cast<uint8_t>(byte(rng));
      }
      return;
    default: {
      // Superblocks: random bytes, then the fp16 scales (d, and dmin where the type has one)
      // set to typical magnitudes.
      const int64_t bytes = SuperBytes(dtype);
      for (int64_t b = 0; b < k / 256; ++b) {
        uint8_t* blk = row + bytes * b;
        for (int64_t j = 0; j < bytes; ++j) blk[j] = static_cast<uint8_t>(byte(rng));
        switch (dtype) {
          case DType::kQ2_K:
            Write16(blk + 80, RandomHalf(rng, 5, 10, true));
            Write16(blk + 82, RandomHalf(rng, 5, 10, true));
            break;
          case DType::kQ3_K:
            Write16(blk + 108, RandomHalf(rng, 5, 10, true));
            break;
          case DType::kQ4_K:
          case DType::kQ5_K:
            Write16(blk, RandomHalf(rng, 3, 8, true));
            Write16(blk + 2, RandomHalf(rng, 3, 8, true));
            break;
          case DType::kQ6_K:
            Write16(blk + 208, RandomHalf(rng, 3, 8, true));
            break;
          default:  // IQ4_XS
            Write16(blk, RandomHalf(rng, 3, 8, true));
            break;
        }
      }
      return;
    }
  }
}

bool IsQuantized(DType dtype) {
  return dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16;
}

// Types whose 32-element blocks carry two scales or offsets (more float terms per block).
bool HasHalfBlocks(DType dtype) { return SuperBytes(dtype) > 0 || dtype == DType::kIQ4_NL; }

// A weight matrix with rows padded by kPad bytes, so the kernels must honour row_bytes.
struct TestMatrix {
  static constexpr int64_t kPad = 16;
  std::vector<uint8_t> bytes;
  WeightMatrix w;
};

TestMatrix MakeMatrix(DType dtype, int64_t rows, int64_t k, std::mt19937& rng) {
  TestMatrix t;
  const int64_t row_bytes = RowBytes(dtype, k) + TestMatrix::kPad;
  t.bytes.assign(static_cast<size_t>(rows * row_bytes), 0xAB);
  for (int64_t r = 0; r < rows; ++r) RandomRow(dtype, k, rng, t.bytes.data() + r * row_bytes);
  t.w.dtype = dtype;
  t.w.data = t.bytes.data();
  t.w.rows = rows;
  t.w.cols = k;
  t.w.row_bytes = static_cast<size_t>(row_bytes);
  return t;
}

// ---- MatMul vs reference --------------------------------------------------------------------

using MatMulParam = std::tuple<CpuLevel, DType, int64_t /*k*/, int64_t /*m*/, int /*threads*/>;

class MatMulTest : public ::testing::TestWithParam<MatMulParam> {};

TEST_P(MatMulTest, MatchesDoubleReference) {
  const auto [level, dtype, k, m, threads] = GetParam();
  if (!CpuLevelAvailable(level)) {
    GTEST_SKIP() << "CPU lacks the " << CpuLevelString(level) << " kernel level";
  }
  std::mt19937 rng(static_cast<uint32_t>(k * 1000 + m * 10 + static_cast<int>(dtype)));
  ThreadPool pool(threads);
  // Quantized weights: both activation precisions, the default (int16) first.
  std::vector<ActPrecision> precisions = {ActPrecision::kInt16};
  if (IsQuantized(dtype)) precisions.push_back(ActPrecision::kInt8);
  for (ActPrecision precision : precisions) {
    const bool int8 = precision == ActPrecision::kInt8;
    SCOPED_TRACE(int8 ? "int8 activations" : "int16 activations");
    // Activation codes are round(x / d), d = amax / qmax, computed in float: the code is off
    // by at most 1/2 plus the float error of x * (1 / d) (about 2 ulp of qmax, in codes).
    const double qmax = int8 ? 127.0 : 32767.0;
    const double half_step = 0.5 + 2.5 * qmax * kFloatEps;
    MatMulScratch scratch;
    scratch.activations = precision;
    for (int64_t rows : {1, 5, 37, 133}) {
      SCOPED_TRACE("rows=" + std::to_string(rows));
      TestMatrix t = MakeMatrix(dtype, rows, k, rng);

      std::vector<float> x(static_cast<size_t>(m * k));
      std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
      for (float& v : x) v = dist(rng);
      // An all-zero block (scale 0) and an outlier, as activations have.
      if (k > 32) std::fill(x.begin(), x.begin() + 32, 0.0f);
      if (k > 40) x[40] = 37.5f;

      const int64_t ldy = rows + 3;
      constexpr float kSentinel = 12345.0f;
      std::vector<float> y(static_cast<size_t>(m * ldy), kSentinel);
      MatMulWithLevel(level, t.w, x.data(), m, y.data(), ldy, threads == 1 ? nullptr : &pool,
                      &scratch);

      std::vector<double> w;
      std::vector<double> mag;
      for (int64_t j = 0; j < rows; ++j) {
        ReferenceRow(dtype, t.bytes.data() + j * t.w.row_bytes, k, &w, &mag);
        for (int64_t i = 0; i < m; ++i) {
          const float* xi = x.data() + i * k;
          double ref = 0.0;
          double abs_sum = 0.0;    // sum |terms| the kernel adds in float
          double quant_err = 0.0;  // bound of the activation quantization error
          for (int64_t b = 0; b < k / (IsQuantized(dtype) ? 32 : 1); ++b) {
            const int64_t n = IsQuantized(dtype) ? 32 : 1;
            double amax = 0.0;
            double wabs = 0.0;
            for (int64_t c = b * n; c < (b + 1) * n; ++c) {
              ref += w[c] * xi[c];
              abs_sum += mag[c] * std::fabs(xi[c]);
              amax = std::max(amax, std::fabs(static_cast<double>(xi[c])));
              wabs += std::fabs(w[c]);
            }
            // |x - d * q| <= d * half_step with d = amax / qmax.
            if (IsQuantized(dtype)) quant_err += amax / qmax * half_step * wabs;
          }
          // Float summation of k (or k/32 block) terms, each a product of <= 3 rounded factors.
          const double terms = HasHalfBlocks(dtype) ? k / 8 + 8
                               : IsQuantized(dtype) ? k / 32 + 8
                                                    : k + 8;
          const double tol = quant_err + 2.0 * terms * kFloatEps * abs_sum + 1e-30;
          EXPECT_NEAR(y[i * ldy + j], ref, tol) << "i=" << i << " j=" << j;
        }
      }
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = rows; j < ldy; ++j) {
          ASSERT_EQ(y[i * ldy + j], kSentinel) << "wrote padding";
        }
      }
    }
  }
}

std::string ParamName(const ::testing::TestParamInfo<MatMulParam>& info) {
  const auto [level, dtype, k, m, threads] = info.param;
  return std::string(CpuLevelString(level)) + "_" + std::string(DTypeName(dtype)) + "_k" +
         std::to_string(k) + "_m" + std::to_string(m) + "_t" + std::to_string(threads);
}

INSTANTIATE_TEST_SUITE_P(
    AllLevels, MatMulTest,
    ::testing::Combine(::testing::ValuesIn(kAllLevels),
                       ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0,
                                         DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1),
                       ::testing::Values<int64_t>(32, 64, 576, 1536),
                       ::testing::Values<int64_t>(1, 3, 7, 16), ::testing::Values(1, 2, 3)),
    ParamName);

// The K-quants and IQ4 (superblocks of 256; IQ4_NL has blocks of 32).
INSTANTIATE_TEST_SUITE_P(
    SuperBlocks, MatMulTest,
    ::testing::Combine(::testing::ValuesIn(kAllLevels),
                       ::testing::Values(DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K,
                                         DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS),
                       ::testing::Values<int64_t>(256, 1536),
                       ::testing::Values<int64_t>(1, 3, 7, 16), ::testing::Values(1, 2, 3)),
    ParamName);

// Float weights with k not a multiple of any vector width exercise the scalar / masked tails.
TEST(MatMulFloatTail, OddColumnCounts) {
  std::mt19937 rng(7);
  for (CpuLevel level : kAllLevels) {
    if (!CpuLevelAvailable(level)) continue;
    for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
      for (int64_t k : {1, 7, 9, 33, 47}) {
        TestMatrix t = MakeMatrix(dtype, 11, k, rng);
        std::vector<float> x(static_cast<size_t>(5 * k));
        for (float& v : x) v = std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng);
        std::vector<float> y(5 * 11);
        MatMulScratch scratch;
        MatMulWithLevel(level, t.w, x.data(), 5, y.data(), 11, nullptr, &scratch);
        std::vector<double> w;
        std::vector<double> mag;
        for (int64_t j = 0; j < 11; ++j) {
          ReferenceRow(dtype, t.bytes.data() + j * t.w.row_bytes, k, &w, &mag);
          for (int64_t i = 0; i < 5; ++i) {
            double ref = 0.0;
            double abs_sum = 0.0;
            for (int64_t c = 0; c < k; ++c) {
              ref += w[c] * x[i * k + c];
              abs_sum += std::fabs(w[c] * x[i * k + c]);
            }
            EXPECT_NEAR(y[i * 11 + j], ref, 2.0 * (k + 8) * kFloatEps * abs_sum)
                << CpuLevelString(level) << " " << DTypeName(dtype) << " k=" << k;
          }
        }
      }
    }
  }
}

// The public MatMul is MatMulWithLevel at the detected level, bit for bit, whatever the thread
// count (each output is computed by one thread in a fixed order).
TEST(MatMulDispatch, PublicEntryUsesDetectedLevel) {
  std::mt19937 rng(3);
  for (DType dtype : {DType::kF16, DType::kQ4_1}) {
    TestMatrix t = MakeMatrix(dtype, 70, 576, rng);
    std::vector<float> x(4 * 576);
    for (float& v : x) v = std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng);
    std::vector<float> a(4 * 70);
    std::vector<float> b(4 * 70);
    ThreadPool pool(2);
    MatMulScratch scratch;
    MatMul(t.w, x.data(), 4, a.data(), 70, &pool, &scratch);
    MatMulWithLevel(DetectedCpuLevel(), t.w, x.data(), 4, b.data(), 70, &pool, &scratch);
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
    // A null scratch (and a null pool) is allowed and gives the same numbers.
    std::vector<float> c(4 * 70);
    MatMul(t.w, x.data(), 4, c.data(), 70, nullptr, nullptr);
    EXPECT_EQ(0, std::memcmp(a.data(), c.data(), a.size() * sizeof(float)));
  }
}

// Batch invariance: a row's result is the same bits whether it is multiplied alone or among
// other rows (at any place in a group of four or eight), at every level and precision. The
// Scheduler's batched decode relies on this to give each request the tokens it would get alone.
TEST(MatMulBatchInvariance, RowResultDoesNotDependOnTheOtherRows) {
  std::mt19937 rng(11);
  for (CpuLevel level : kAllLevels) {
    if (!CpuLevelAvailable(level)) continue;
    for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0,
                        DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ2_K, DType::kQ3_K,
                        DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS}) {
      for (ActPrecision precision : {ActPrecision::kInt16, ActPrecision::kInt8}) {
        // m = 11: one group of eight for the grouped int16 kernels and three rows left over;
        // m = 43, k = 1536: five groups in two chunks (kGroupChunkBytes) and three rows left
        // (AMX: three tiles, the last padded, one weight tile per pass); m = 83: AMX with two
        // weight tiles per pass.
        for (const auto& [k_plain, k_super, m] :
             {std::tuple<int64_t, int64_t, int64_t>{576, 512, 11},
              std::tuple<int64_t, int64_t, int64_t>{1536, 1536, 43},
              std::tuple<int64_t, int64_t, int64_t>{576, 512, 83}}) {
          SCOPED_TRACE(std::string(CpuLevelString(level)) + " " + DTypeName(dtype) +
                       " m=" + std::to_string(m));
          const int64_t k = SuperBytes(dtype) > 0 ? k_super : k_plain;
          const int64_t rows = 37;
          TestMatrix t = MakeMatrix(dtype, rows, k, rng);
          std::vector<float> x(static_cast<size_t>(m * k));
          for (float& v : x) v = std::uniform_real_distribution<float>(-2.0f, 2.0f)(rng);
          MatMulScratch scratch;
          scratch.activations = precision;
          ThreadPool pool(2);
          std::vector<float> batched(static_cast<size_t>(m * rows));
          MatMulWithLevel(level, t.w, x.data(), m, batched.data(), rows, &pool, &scratch);
          for (int64_t i = 0; i < m; ++i) {
            std::vector<float> alone(static_cast<size_t>(rows));
            MatMulWithLevel(level, t.w, x.data() + i * k, 1, alone.data(), rows, nullptr, &scratch);
            EXPECT_EQ(0, std::memcmp(alone.data(), batched.data() + i * rows,
                                     alone.size() * sizeof(float)))
                << "row " << i;
          }
        }
      }
    }
  }
}

// Products of one input with several matrices (Q, K and V; gate and up) in one call give each
// matrix the bits MatMul gives it alone: one set of quantized activations serves every layout the
// matrices' kernels take (plain codes, groups with and without half sums, tiles), and the rows of
// all of them are cut into the same chunks. Row counts that are no multiple of the grain put
// product boundaries inside chunks.
TEST(MatMulShared, EachProductIsTheBitsOfMatMulAlone) {
  std::mt19937 rng(23);
  const std::vector<std::vector<DType>> sets = {
      {DType::kQ4_1, DType::kQ4_1, DType::kQ4_1},
      {DType::kQ5_0, DType::kQ8_0, DType::kQ4_1, DType::kQ5_1},
      {DType::kQ4_K, DType::kQ6_K, DType::kQ2_K, DType::kIQ4_XS},
      {DType::kF32, DType::kQ8_0, DType::kF16, DType::kBF16, DType::kQ3_K, DType::kQ5_K}};
  for (CpuLevel level : kAllLevels) {
    if (!CpuLevelAvailable(level)) continue;
    for (const std::vector<DType>& set : sets) {
      for (ActPrecision precision : {ActPrecision::kInt16, ActPrecision::kInt8}) {
        for (int64_t m : {1, 3, 8, 19, 83}) {
          const bool super =
              std::any_of(set.begin(), set.end(), [](DType d) { return SuperBytes(d) > 0; });
          const int64_t k = super ? 512 : 576;
          SCOPED_TRACE(std::string(CpuLevelString(level)) + " " + DTypeName(set[0]) + "... m=" +
                       std::to_string(m) + (precision == ActPrecision::kInt8 ? " int8" : " int16"));
          std::vector<TestMatrix> mats;
          std::vector<std::vector<float>> ys;
          std::vector<MatMulProduct> products;
          for (size_t p = 0; p < set.size(); ++p) {
            const int64_t rows = 16 * static_cast<int64_t>(p + 1) + 5 * static_cast<int64_t>(p);
            mats.push_back(MakeMatrix(set[p], rows, k, rng));
            ys.emplace_back(static_cast<size_t>(m * (rows + 3)), -7.0f);
          }
          for (size_t p = 0; p < set.size(); ++p) {
            products.push_back({&mats[p].w, ys[p].data(), mats[p].w.rows + 3});
          }
          std::vector<float> x(static_cast<size_t>(m * k));
          for (float& v : x) v = std::uniform_real_distribution<float>(-2.0f, 2.0f)(rng);
          MatMulScratch scratch;
          scratch.activations = precision;
          ThreadPool pool(2);
          MatMulSharedWithLevel(level, products, x.data(), m, &pool, &scratch);
          for (size_t p = 0; p < set.size(); ++p) {
            SCOPED_TRACE("product " + std::to_string(p) + " " + DTypeName(set[p]));
            const int64_t rows = mats[p].w.rows;
            std::vector<float> alone(ys[p].size(), -7.0f);
            MatMulWithLevel(level, mats[p].w, x.data(), m, alone.data(), rows + 3, &pool, &scratch);
            // The padding past each row's results is left as it was, too.
            EXPECT_EQ(0, std::memcmp(alone.data(), ys[p].data(), alone.size() * sizeof(float)));
          }
        }
      }
    }
  }
}

// Matrices larger than the caches (an output head, read from DRAM at every decode step, where the
// one-row kernels prefetch ahead): batch-invariant too, and near the double reference.
TEST(MatMulBatchInvariance, MatricesThatStreamFromMemoryToo) {
  std::mt19937 rng(17);
  const int64_t k = 1024;
  const int64_t m = 19;  // two groups of eight and three rows left over (AMX: two tiles)
  for (CpuLevel level : kAllLevels) {
    if (!CpuLevelAvailable(level)) continue;
    for (DType dtype : {DType::kQ8_0, DType::kQ4_1, DType::kQ6_K}) {
      SCOPED_TRACE(std::string(CpuLevelString(level)) + " " + DTypeName(dtype));
      const int64_t row_bytes = MakeMatrix(dtype, 1, k, rng).w.row_bytes;
      constexpr int64_t kBytes = int64_t{16} << 20;
      const int64_t rows = (kBytes / row_bytes + 16) / 16 * 16;
      TestMatrix t = MakeMatrix(dtype, rows, k, rng);
      ASSERT_GE(rows * static_cast<int64_t>(t.w.row_bytes), kBytes);
      std::vector<float> x(static_cast<size_t>(m * k));
      for (float& v : x) v = std::uniform_real_distribution<float>(-2.0f, 2.0f)(rng);
      MatMulScratch scratch;
      ThreadPool pool(2);
      std::vector<float> batched(static_cast<size_t>(m * rows));
      MatMulWithLevel(level, t.w, x.data(), m, batched.data(), rows, &pool, &scratch);
      std::vector<float> alone(static_cast<size_t>(rows));
      std::vector<double> w;
      std::vector<double> mag;
      for (int64_t i = 0; i < m; ++i) {
        MatMulWithLevel(level, t.w, x.data() + i * k, 1, alone.data(), rows, &pool, &scratch);
        ASSERT_EQ(
            0, std::memcmp(alone.data(), batched.data() + i * rows, alone.size() * sizeof(float)))
            << "row " << i;
        for (int64_t j : {int64_t{0}, rows / 3, rows - 1}) {
          ReferenceRow(dtype, t.bytes.data() + j * t.w.row_bytes, k, &w, &mag);
          double ref = 0.0;
          double abs_sum = 0.0;
          for (int64_t c = 0; c < k; ++c) {
            ref += w[c] * x[i * k + c];
            abs_sum += std::fabs(w[c] * x[i * k + c]);
          }
          // int16 activation codes: relative error about 1.5e-5 per product, plus float sums.
          EXPECT_NEAR(alone[j], ref, 1e-4 * abs_sum + 1e-6) << "i=" << i << " j=" << j;
        }
      }
    }
  }
}

// Activation quantization: d = max|x| / qmax, |x - d q| <= d / 2, s = d * sum(q), for both
// block formats (qmax = 127 for ActBlockQ8, 32767 for ActBlockQ16).
template <class Block>
void CheckQuantizedBlocks(const std::vector<float>& x, const std::vector<Block>& q, double qmax) {
  for (size_t b = 0; b < q.size(); ++b) {
    double amax = 0.0;
    for (int i = 0; i < 32; ++i) {
      amax = std::max(amax, std::fabs(static_cast<double>(x[32 * b + i])));
    }
    EXPECT_NEAR(q[b].d, amax / qmax, amax / qmax * 1e-6);
    int32_t sum = 0;
    for (int i = 0; i < 32; ++i) {
      EXPECT_LE(std::fabs(x[32 * b + i] - static_cast<double>(q[b].d) * q[b].qs[i]),
                q[b].d * (0.5 + 2.5 * qmax * kFloatEps))
          << "block " << b << " elem " << i;
      EXPECT_LE(std::abs(static_cast<int32_t>(q[b].qs[i])), qmax);
      sum += q[b].qs[i];
    }
    EXPECT_FLOAT_EQ(q[b].s, q[b].d * static_cast<float>(sum));
  }
}

TEST(QuantizeAct, RoundsToNearestCodeAndCarriesSum) {
  std::mt19937 rng(11);
  std::vector<float> x(32 * 6);
  for (float& v : x) v = std::uniform_real_distribution<float>(-3.0f, 3.0f)(rng);
  for (int i = 32; i < 64; ++i) x[i] = 0.0f;  // a zero block
  x[70] = -100.0f;                            // a block dominated by a negative outlier
  for (CpuLevel level : kAllLevels) {
    if (!CpuLevelAvailable(level)) continue;
    SCOPED_TRACE(CpuLevelString(level));
    std::vector<ActBlockQ8> q(6);
    MatMulKernelsFor(level).quantize_act(x.data(), static_cast<int64_t>(x.size()), q.data());
    CheckQuantizedBlocks(x, q, 127.0);
    EXPECT_EQ(q[2].qs[70 - 64], -127);
    EXPECT_EQ(q[1].d, 0.0f);

    std::vector<ActBlockQ16> q16(6);
    MatMulKernelsFor(level).quantize_act16(x.data(), static_cast<int64_t>(x.size()), q16.data());
    CheckQuantizedBlocks(x, q16, 32767.0);
    EXPECT_EQ(q16[2].qs[70 - 64], -32767);
    EXPECT_EQ(q16[1].d, 0.0f);
  }
}

// The default precision is int16, and it is what a null scratch gets: int16 results differ from
// int8 ones (so the option reaches the kernels) and are much closer to the exact product.
TEST(MatMulPrecision, DefaultIsInt16AndMoreAccurateThanInt8) {
  EXPECT_EQ(MatMulScratch().activations, ActPrecision::kInt16);
  std::mt19937 rng(13);
  const int64_t k = 576;
  const int64_t rows = 64;
  TestMatrix t = MakeMatrix(DType::kQ4_1, rows, k, rng);
  std::vector<float> x(k);
  for (float& v : x) v = std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng);
  std::vector<float> y_null(rows);
  std::vector<float> y8(rows);
  MatMul(t.w, x.data(), 1, y_null.data(), rows, nullptr, nullptr);
  MatMulScratch scratch8;
  scratch8.activations = ActPrecision::kInt8;
  MatMul(t.w, x.data(), 1, y8.data(), rows, nullptr, &scratch8);
  double err16 = 0.0;
  double err8 = 0.0;
  std::vector<double> w;
  std::vector<double> mag;
  for (int64_t j = 0; j < rows; ++j) {
    ReferenceRow(DType::kQ4_1, t.bytes.data() + j * t.w.row_bytes, k, &w, &mag);
    double ref = 0.0;
    for (int64_t c = 0; c < k; ++c) ref += w[c] * x[c];
    err16 = std::max(err16, std::fabs(y_null[j] - ref));
    err8 = std::max(err8, std::fabs(y8[j] - ref));
  }
  EXPECT_GT(err8, 0.0);
  EXPECT_LT(err16 * 20.0, err8) << "int16 " << err16 << " int8 " << err8;
}

// ---- DequantizeRow: bit-exact ---------------------------------------------------------------

class DequantizeRowTest : public ::testing::TestWithParam<DType> {};

// Exact for the types with one scale per block; the K-quants and IQ4 compute the sub-block scale
// (d * sc) in float first, so they are held to the float rounding of that product and the sum.
TEST_P(DequantizeRowTest, MatchesReference) {
  const DType dtype = GetParam();
  std::mt19937 rng(5);
  const int64_t k = SuperBytes(dtype) > 0 ? 512 : 576;
  TestMatrix t = MakeMatrix(dtype, 9, k, rng);
  std::vector<double> w;
  std::vector<double> mag;
  std::vector<float> out(k + 1, -7.0f);
  for (int64_t row = 0; row < 9; ++row) {
    DequantizeRow(t.w, row, out.data());
    ReferenceRow(dtype, t.bytes.data() + row * t.w.row_bytes, k, &w, &mag);
    for (int64_t i = 0; i < k; ++i) {
      if (HasHalfBlocks(dtype)) {
        ASSERT_NEAR(out[i], w[i], 3.0 * kFloatEps * mag[i]) << "row " << row << " elem " << i;
      } else {
        ASSERT_EQ(out[i], static_cast<float>(w[i])) << "row " << row << " elem " << i;
      }
    }
    ASSERT_EQ(out[k], -7.0f) << "wrote past the row";
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, DequantizeRowTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0,
                                           DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                                           DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K,
                                           DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return std::string(DTypeName(info.param));
                         });

}  // namespace
}  // namespace infer::kernels::cpu
