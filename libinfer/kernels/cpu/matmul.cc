// MatMul front end: picks the kernel table, quantizes activations once (int16 or int8 codes),
// splits the output columns (rows of W) over the thread pool. DequantizeRow is here too (portable;
// it runs once per token for embeddings, far from any hot loop).
#include "libinfer/kernels/cpu/matmul.h"

#include <cstring>

#include "libinfer/kernels/cpu/matmul_internal.h"
#include "libinfer/util/cpu_features.h"
#include "libinfer/util/fp16.h"

namespace infer::kernels::cpu {
namespace {

bool IsQuantized(DType dtype) {
  return dtype == DType::kQ8_0 || dtype == DType::kQ4_0 || dtype == DType::kQ4_1 ||
         dtype == DType::kQ5_0 || dtype == DType::kQ5_1;
}

// Rows of W per scheduling grain: keeps each thread's range a multiple of the kernels' row
// tiles, and small matrices on one thread (a region start costs a few microseconds).
constexpr int64_t kRowGrain = 16;

// Below this many multiply-adds a matrix product runs on the calling thread alone.
constexpr int64_t kMinParallelWork = 64 * 1024;

}  // namespace

CpuLevel DetectedCpuLevel() {
#if defined(INFER_KERNELS_X86)
  return SelectedCpuLevel();
#else
  return CpuLevel::kPortable;
#endif
}

bool CpuLevelAvailable(CpuLevel level) {
  if (level == CpuLevel::kPortable) return true;
#if defined(INFER_KERNELS_X86)
  return static_cast<int>(level) <= static_cast<int>(LevelOf(HardwareCpuFeatures()));
#else
  return false;  // only the portable kernels are compiled in
#endif
}

const MatMulKernelTable& MatMulKernelsFor(CpuLevel level) {
#if defined(INFER_KERNELS_X86)
  if (level == CpuLevel::kAvx512) return Avx512VnniMatMulKernels();
  if (level == CpuLevel::kAvx2) return Avx2MatMulKernels();
#endif
  return PortableMatMulKernels();
}

void MatMulWithLevel(CpuLevel level, const WeightMatrix& w, const float* x, int64_t m, float* y,
                     int64_t ldy, ThreadPool* pool, MatMulScratch* scratch) {
  if (m <= 0 || w.rows <= 0) return;
  const MatMulKernelTable& table = MatMulKernelsFor(level);
  const int threads = pool == nullptr ? 1 : pool->num_threads();
  const bool parallel = threads > 1 && m * w.rows * w.cols >= kMinParallelWork;

  const void* xk = x;
  GemmFn gemm = table.gemm[static_cast<int>(w.dtype)];
  MatMulScratch local_scratch;  // only used when the caller passes none
  if (scratch == nullptr) scratch = &local_scratch;
  if (IsQuantized(w.dtype)) {
    // Activations are quantized once here, not once per thread or per weight row.
    const bool wide = scratch->activations == ActPrecision::kInt16;
    if (wide) gemm = table.gemm16[static_cast<int>(w.dtype)];
    const int64_t blocks = w.cols / kQuantBlock;
    const size_t block_bytes = wide ? sizeof(ActBlockQ16) : sizeof(ActBlockQ8);
    const size_t bytes = static_cast<size_t>(m * blocks) * block_bytes;
    if (scratch->buffer.size() < bytes) scratch->buffer.resize(bytes);
    uint8_t* xq = scratch->buffer.data();
    const QuantizeActFn quantize8 = table.quantize_act;
    const QuantizeAct16Fn quantize16 = table.quantize_act16;
    const int64_t cols = w.cols;
    auto quantize_row = [&](int64_t i) {
      uint8_t* out = xq + static_cast<size_t>(i * blocks) * block_bytes;
      if (wide) {
        quantize16(x + i * cols, cols, reinterpret_cast<ActBlockQ16*>(out));
      } else {
        quantize8(x + i * cols, cols, reinterpret_cast<ActBlockQ8*>(out));
      }
    };
    if (parallel && m >= 2 * threads) {
      pool->ParallelFor(m, 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) quantize_row(i);
      });
    } else {
      for (int64_t i = 0; i < m; ++i) quantize_row(i);
    }
    xk = xq;
  }

  if (!parallel) {
    gemm(w, xk, m, y, ldy, 0, w.rows);
    return;
  }
  pool->Run([&](int index, int count) {
    const auto [begin, end] = SplitRange(w.rows, kRowGrain, index, count);
    if (begin < end) gemm(w, xk, m, y, ldy, begin, end);
  });
}

void MatMul(const WeightMatrix& w, const float* x, int64_t m, float* y, int64_t ldy,
            ThreadPool* pool, MatMulScratch* scratch) {
  static const CpuLevel level = DetectedCpuLevel();
  MatMulWithLevel(level, w, x, m, y, ldy, pool, scratch);
}

void DequantizeRow(const WeightMatrix& w, int64_t row, float* out) {
  const uint8_t* src = static_cast<const uint8_t*>(w.data) + row * w.row_bytes;
  const int64_t n = w.cols;
  switch (w.dtype) {
    case DType::kF32:
      std::memcpy(out, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case DType::kF16:
    case DType::kBF16: {
      const bool half = w.dtype == DType::kF16;
      for (int64_t i = 0; i < n; ++i) {
        uint16_t v;
        std::memcpy(&v, src + 2 * i, sizeof(v));
        out[i] = half ? Fp16ToFp32(v) : Bf16ToFp32(v);
      }
      return;
    }
    case DType::kQ8_0: {
      const auto* blocks = reinterpret_cast<const BlockQ8_0*>(src);
      for (int64_t b = 0; b < n / kQuantBlock; ++b) {
        const float d = Fp16ToFp32(blocks[b].d);
        for (int i = 0; i < kQuantBlock; ++i) out[b * kQuantBlock + i] = d * blocks[b].qs[i];
      }
      return;
    }
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1: {
      // One layout family: fp16 d, then (x_1) an fp16 min m, then (Q5) 32 high bits, then 16
      // nibble bytes. The code is the nibble plus 16 times the high bit; x = d * code + m, where
      // the types without a min have the implicit m = -8 d (Q4_0) or -16 d (Q5_0).
      const bool has_min = w.dtype == DType::kQ4_1 || w.dtype == DType::kQ5_1;
      const bool five = w.dtype == DType::kQ5_0 || w.dtype == DType::kQ5_1;
      const int64_t block_bytes = GetDTypeInfo(w.dtype).block_bytes;
      for (int64_t b = 0; b < n / kQuantBlock; ++b) {
        const uint8_t* blk = src + b * block_bytes;
        uint16_t dh;
        uint16_t mh = 0;
        uint32_t qh = 0;
        std::memcpy(&dh, blk, sizeof(dh));
        if (has_min) std::memcpy(&mh, blk + 2, sizeof(mh));
        const uint8_t* rest = blk + (has_min ? 4 : 2);
        if (five) {
          qh = static_cast<uint32_t>(rest[0]) | static_cast<uint32_t>(rest[1]) << 8 |
               static_cast<uint32_t>(rest[2]) << 16 | static_cast<uint32_t>(rest[3]) << 24;
          rest += 4;
        }
        const float d = Fp16ToFp32(dh);
        const float mn = has_min ? Fp16ToFp32(mh) : (five ? -16.0f : -8.0f) * d;
        float* o = out + b * kQuantBlock;
        for (int i = 0; i < kQuantBlock / 2; ++i) {
          const int lo = (rest[i] & 0x0f) | static_cast<int>(((qh >> i) & 1) << 4);
          const int hi = (rest[i] >> 4) | static_cast<int>(((qh >> (i + 16)) & 1) << 4);
          o[i] = d * static_cast<float>(lo) + mn;
          o[i + 16] = d * static_cast<float>(hi) + mn;
        }
      }
      return;
    }
  }
}

}  // namespace infer::kernels::cpu
