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

// Rows of W per scheduling grain: keeps each thread's range a multiple of the kernels' row
// tiles, and small matrices on one thread (a region start costs a few microseconds).
constexpr int64_t kRowGrain = 16;

// Below this many multiply-adds a matrix product runs on the calling thread alone.
constexpr int64_t kMinParallelWork = 64 * 1024;

}  // namespace

bool IsQuantized(DType dtype) {
  return dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16;
}

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
    default: {
      // Quantized: the portable block decoder, x = scale * code + offset per half block.
      int32_t q[kQuantBlock];
      float scale[2];
      float offset[2];
      for (int64_t b = 0; b < n / kQuantBlock; ++b) {
        DecodeQuantBlock(w.dtype, src, b, q, scale, offset);
        float* o = out + b * kQuantBlock;
        for (int i = 0; i < kQuantBlock; ++i) {
          o[i] = scale[i / 16] * static_cast<float>(q[i]) + offset[i / 16];
        }
      }
      return;
    }
  }
}

}  // namespace infer::kernels::cpu
