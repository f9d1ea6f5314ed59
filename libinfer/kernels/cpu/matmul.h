// Matrix products with weights in their stored type (F32, F16, BF16, and the quantized GGUF
// types of libinfer/tensor/dtype.h: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, the K-quants, IQ4_NL, IQ4_XS).
//
// Quantized weights are used in place: activations are quantized once per row to 16-bit integer
// blocks (or, on request, 8-bit ones as GGML does) and dotted against the weight blocks with
// integer SIMD; weights are never expanded to F32 in memory. Kernels for AMX (tile products of
// 16 rows or more, where the CPU and the operating system allow them), AVX-512, AVX2 and a
// portable fallback are compiled into the library and chosen at run time (GetCpuFeatures()).
#ifndef INFER_KERNELS_CPU_MATMUL_H_
#define INFER_KERNELS_CPU_MATMUL_H_

#include <cstddef>
#include <cstdint>
#include <span>
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

// How MatMul rounds activations before the integer dot products with quantized weights
// (Q8_0/Q4_x/Q5_x; float weights always take float activations). Per block of 32 values the
// codes are q = round(x / d) with d = max|x| / qmax.
enum class ActPrecision : uint8_t {
  // int16 codes, qmax = 32767: relative rounding error <= 1.5e-5 of the block maximum, which is
  // far below the weights' own quantization error; logits match a float reference (cosine
  // > 0.99999 on SmolLM2). The default.
  kInt16,
  // int8 codes, qmax = 127 (GGML's Q8 activations): ~256x coarser (error <= 0.4% of the block
  // maximum), which flips near-tied argmaxes (SmolLM2 Q4_1: 96.6% argmax agreement with a float
  // reference, min cosine 0.991). Not faster with the AVX2 kernels (measured within 2% of
  // kInt16 on Zen, slower for Q8_0); kept for AVX-512 VNNI, where one dpbusd does what takes
  // madd + dpwssd with int16 codes, so prefill may be faster there (unmeasured). Use it only
  // where that speed matters more than agreement with a float reference.
  kInt8,
};

// Reusable buffers for MatMul (quantized activations) and the activation precision. One per
// calling thread; the buffer grows as needed.
struct MatMulScratch {
  std::vector<uint8_t> buffer;
  ActPrecision activations = ActPrecision::kInt16;
};

// y[i][j] = sum_k x[i][k] * W[j][k] for i < m, j < w.rows.
// x: m rows of w.cols floats, row stride w.cols. y: m rows, row stride ldy >= w.rows; only
// y[i][0, w.rows) is written.
// Work is split over the pool's threads by output columns (rows of W); pool may be null (runs
// on the calling thread; small products do so anyway). `scratch` holds the quantized activations
// for Q8_0/Q4_x/Q5_x weights and selects their precision; it may be null (then a buffer is
// allocated per call and activations are int16).
// Precision: float weights accumulate in float (FMA). Quantized weights see x rounded to integer
// codes per block of 32 (scale d = max|x_block| / qmax, qmax = 32767 for kInt16, 127 for kInt8),
// so each product carries an error of at most (d / 2) * sum|w_block| per block on top of float
// rounding.
// Thread-safety: concurrent calls need distinct scratch objects and pools (ThreadPool::Run is
// not re-entrant). Never fails: shapes are the caller's contract (w.cols % 32 == 0 for
// quantized types).
void MatMul(const WeightMatrix& w, const float* x, int64_t m, float* y, int64_t ldy,
            ThreadPool* pool, MatMulScratch* scratch);

// One product of an input shared with others (MatMulShared): y[i][j] = x[i] . W[j] into `y`,
// rows of stride ldy >= w->rows.
struct MatMulProduct {
  const WeightMatrix* w = nullptr;
  float* y = nullptr;
  int64_t ldy = 0;
};

// The products of one input x (m rows of `cols` floats) with several matrices of `cols` columns
// (a layer's Q, K and V; gate and up): each y bit-identical to MatMul's, but the activations are
// quantized (and interleaved or packed) once for all of them and the rows of every matrix are
// dealt to the pool in one region. Same precision, threading and contract as MatMul; every
// products[p].w->cols must be equal.
void MatMulShared(std::span<const MatMulProduct> products, const float* x, int64_t m,
                  ThreadPool* pool, MatMulScratch* scratch);

// Expands row `row` of `w` into `out` (w.cols floats). Exact for F32/F16/BF16/Q8_0/Q4_0 (every
// value is representable in float); Q4_1's d * q + m is rounded once to float (d * q is exact).
// Used for embedding look-ups. Thread-safe.
void DequantizeRow(const WeightMatrix& w, int64_t row, float* out);

}  // namespace infer::kernels::cpu

#endif  // INFER_KERNELS_CPU_MATMUL_H_
