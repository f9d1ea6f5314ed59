// Matrix products with weights in their stored type (F32, F16, BF16, Q8_0, Q4_0, Q4_1).
//
// Quantized weights are used in place: activations are quantized once per row (to Q8 blocks)
// and dotted against the weight blocks with integer SIMD, as GGML does; weights are never
// expanded to F32 in memory. Kernels for AVX-512, AVX2 and a portable fallback are compiled
// into the library and chosen at run time (GetCpuFeatures()).
#ifndef INFER_KERNELS_CPU_MATMUL_H_
#define INFER_KERNELS_CPU_MATMUL_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "libinfer/tensor/dtype.h"
#include "libinfer/util/thread_pool.h"

namespace infer::kernels::cpu {

// A read-only weight matrix of `rows` x `cols` elements; row r starts at
// data + r * row_bytes and holds `cols` elements of `dtype` (cols % block size == 0).
struct WeightMatrix {
  DType dtype = DType::kF32;
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_bytes = 0;
};

// Reusable buffers for MatMul (quantized activations). One per calling thread; grows as needed.
struct MatMulScratch {
  std::vector<uint8_t> buffer;
};

// y[i][j] = sum_k x[i][k] * W[j][k] for i < m, j < w.rows.
// x: m rows of w.cols floats, row stride w.cols. y: m rows, row stride ldy >= w.rows; only
// y[i][0, w.rows) is written.
// Work is split over the pool's threads by output columns (rows of W); pool may be null (runs
// on the calling thread; small products do so anyway). `scratch` holds the quantized activations
// for Q8_0/Q4_0/Q4_1 weights; it may be null (then a buffer is allocated per call).
// Precision: float weights accumulate in float (FMA). Quantized weights see x rounded to 8-bit
// codes per block of 32 (scale max|x| / 127), so each product carries an error of at most
// (max|x_block| / 254) * sum|w_block| on top of float rounding.
// Thread-safety: concurrent calls need distinct scratch objects and pools (ThreadPool::Run is
// not re-entrant). Never fails: shapes are the caller's contract (w.cols % 32 == 0 for
// quantized types).
void MatMul(const WeightMatrix& w, const float* x, int64_t m, float* y, int64_t ldy,
            ThreadPool* pool, MatMulScratch* scratch);

// Expands row `row` of `w` into `out` (w.cols floats). Exact for F32/F16/BF16/Q8_0/Q4_0 (every
// value is representable in float); Q4_1's d * q + m is rounded once to float (d * q is exact).
// Used for embedding look-ups. Thread-safe.
void DequantizeRow(const WeightMatrix& w, int64_t row, float* out);

}  // namespace infer::kernels::cpu

#endif  // INFER_KERNELS_CPU_MATMUL_H_
