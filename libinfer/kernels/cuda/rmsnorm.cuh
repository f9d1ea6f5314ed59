// CUDA RMSNorm. The .cu side includes no Abseil: it returns cudaError_t and the backend turns
// errors into absl::Status with the call's arguments.
#ifndef INFER_KERNELS_CUDA_RMSNORM_CUH_
#define INFER_KERNELS_CUDA_RMSNORM_CUH_

#include <cuda_runtime_api.h>

#include <cstdint>

namespace infer::kernels::cuda {

// out[r][i] = x[r][i] / sqrt(mean_i(x[r][i]^2) + eps) * weight[i], for r < rows, i < cols.
// Device pointers; out may alias x. One block per row. Returns the launch status.
cudaError_t RmsNorm(const float* x, const float* weight, float* out, int64_t rows, int64_t cols,
                    float eps, cudaStream_t stream);

}  // namespace infer::kernels::cuda

#endif  // INFER_KERNELS_CUDA_RMSNORM_CUH_
