// The CUDA kernels of the forward pass (every pointer a device pointer). Like rmsnorm.cuh, the
// .cu side includes no Abseil: each entry point returns the launch's cudaError_t and the CUDA
// backend (libinfer/backend/cuda_backend.cc) turns errors into Status. What each computes is
// stated at the Backend op of the same name (libinfer/backend/backend.h); the launch shapes
// come from launch.h.
#ifndef INFER_KERNELS_CUDA_OPS_CUH_
#define INFER_KERNELS_CUDA_OPS_CUH_

#include <cuda_runtime_api.h>

#include <cstdint>

namespace infer::kernels::cuda {

// The element types the matrix and embedding kernels read (libinfer/backend/split_weight.h).
enum class WeightType : int { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_1 };

// A weight matrix in the split layout, in device memory.
struct SplitMatrix {
  WeightType type = WeightType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_bytes = 0;             // bytes of one row's codes (a multiple of 16)
  const uint8_t* codes = nullptr;    // [rows][row_bytes]
  const uint16_t* scales = nullptr;  // [rows][cols / 32] F16 (quantized types)
  const uint16_t* mins = nullptr;    // [rows][cols / 32] F16 (Q4_1)
};

// The step's flat batch in device memory (the Backend's FlatBatch).
struct DeviceBatch {
  int64_t num_tokens = 0;
  const int32_t* tokens = nullptr;
  const int32_t* positions = nullptr;
  const int32_t* table_begin = nullptr;
  const int32_t* block_tables = nullptr;
  int64_t num_logit_rows = 0;
  const int32_t* logit_tokens = nullptr;
  int32_t max_position = 0;
};

// y[i][j] = sum_k x[i][k] * w[j][k], float accumulation; x: m rows of w.cols floats.
cudaError_t MatMul(const SplitMatrix& w, const float* x, int64_t m, float* y, int64_t ldy,
                   cudaStream_t stream);
// `w` expanded to F16, [rows][cols] compact in `out` (rows * cols halves): a quantized matrix
// before a cuBLASLt product.
cudaError_t DequantizeToF16(const SplitMatrix& w, void* out, cudaStream_t stream);
// out[i] = x[i] rounded to BF16 (bf16) or F16, i < n: activations before a cuBLASLt product.
cudaError_t ConvertFloats(const float* x, int64_t n, bool bf16, void* out, cudaStream_t stream);
// out[t] = row batch.tokens[t] of `table` in F32.
cudaError_t Embed(const SplitMatrix& table, const DeviceBatch& batch, float* out,
                  cudaStream_t stream);

cudaError_t Add(float* x, const float* y, int64_t n, cudaStream_t stream);
cudaError_t AddBias(float* x, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream);
cudaError_t Scale(float* x, int64_t n, float s, cudaStream_t stream);
cudaError_t SoftCap(float* x, int64_t n, float cap, cudaStream_t stream);
// gelu_tanh false: gate = silu(gate) * up; true: gate = gelu_tanh(gate) * up.
cudaError_t GatedActivation(bool gelu_tanh, float* gate, const float* up, int64_t n,
                            cudaStream_t stream);
cudaError_t Rope(float* x, int64_t num_heads, int64_t head_dim, int64_t rope_dim,
                 const float* inv_freq, bool interleaved, float attn_factor,
                 const DeviceBatch& batch, cudaStream_t stream);
cudaError_t GatherRows(const float* x, int64_t cols, const DeviceBatch& batch, float* out,
                       cudaStream_t stream);

// The attention shape (kernels/attention_shape.h's fields, without the host-only helpers).
struct AttentionDims {
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;  // <= 512
  int64_t block_size = 0;
  int64_t sliding_window = 0;
  float scale = 0;
  float softcap = 0;
  bool kv_f16 = false;  // the pools hold F16 (else F32)
};
cudaError_t WriteKv(const AttentionDims& dims, const float* k, const float* v, void* k_pool,
                    void* v_pool, const DeviceBatch& batch, cudaStream_t stream);
// `workspace`: AttentionWorkspaceFloats(...) floats when the plan splits (else may be null).
cudaError_t PagedAttention(const AttentionDims& dims, const float* q, const void* k_pool,
                           const void* v_pool, float* out, const DeviceBatch& batch, int64_t splits,
                           int64_t positions_per_split, float* workspace, cudaStream_t stream);
// Floats of partial results a split attention needs: per (token, head, split) a maximum, a sum
// and head_dim accumulators.
inline int64_t AttentionWorkspaceFloats(int64_t num_tokens, int64_t num_heads, int64_t head_dim,
                                        int64_t splits) {
  return splits <= 1 ? 0 : num_tokens * num_heads * splits * (head_dim + 2);
}

}  // namespace infer::kernels::cuda

#endif  // INFER_KERNELS_CUDA_OPS_CUH_
