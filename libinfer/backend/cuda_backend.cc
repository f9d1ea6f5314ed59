// The CUDA backend. Every CUDA call's error becomes a Status naming the call and its values.
#include <cuda_runtime_api.h>

#include <tuple>

#include "absl/strings/str_cat.h"
#include "libinfer/backend/backend.h"
#include "libinfer/kernels/cuda/rmsnorm.cuh"

namespace infer {
namespace {

absl::Status CudaError(cudaError_t err, const std::string& call) {
  const std::string message =
      absl::StrCat(call, " failed: ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
  if (err == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(message);
  if (err == cudaErrorInsufficientDriver || err == cudaErrorNoDevice ||
      err == cudaErrorInvalidDevice) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

class CudaBuffer : public DeviceBuffer {
 public:
  CudaBuffer(void* ptr, size_t bytes) : ptr_(ptr), bytes_(bytes) {}
  ~CudaBuffer() override { cudaFree(ptr_); }
  void* data() override { return ptr_; }
  const void* data() const override { return ptr_; }
  size_t size() const override { return bytes_; }

 private:
  void* ptr_;
  size_t bytes_;
};

class CudaBackend : public Backend {
 public:
  CudaBackend(int device, std::string name, cudaStream_t stream)
      : device_(device), name_(std::move(name)), stream_(stream) {}
  ~CudaBackend() override {
    cudaSetDevice(device_);
    cudaStreamDestroy(stream_);
  }

  std::string name() const override { return name_; }

  absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) override {
    if (cudaError_t e = cudaSetDevice(device_); e != cudaSuccess) {
      return CudaError(e, absl::StrCat("cudaSetDevice(", device_, ")"));
    }
    void* ptr = nullptr;
    if (cudaError_t e = cudaMalloc(&ptr, bytes == 0 ? 1 : bytes); e != cudaSuccess) {
      return CudaError(e, absl::StrCat("cudaMalloc(", bytes, ")"));
    }
    return std::make_unique<CudaBuffer>(ptr, bytes);
  }

  bool host_memory() const override { return false; }

  absl::Status CopyToDevice(const void* host, size_t bytes, void* dst) override {
    if (cudaError_t e = cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, stream_);
        e != cudaSuccess) {
      return CudaError(e, absl::StrCat("cudaMemcpyAsync(host->device, ", bytes, ")"));
    }
    return Synchronize();
  }

  absl::Status CopyToHost(const void* src, size_t bytes, void* host) override {
    if (cudaError_t e = cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, stream_);
        e != cudaSuccess) {
      return CudaError(e, absl::StrCat("cudaMemcpyAsync(device->host, ", bytes, ")"));
    }
    return Synchronize();
  }

  absl::Status Synchronize() override {
    if (cudaError_t e = cudaStreamSynchronize(stream_); e != cudaSuccess) {
      return CudaError(e, "cudaStreamSynchronize");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<DeviceWeight>> UploadWeight(
      const kernels::cpu::WeightMatrix&) override {
    return Missing("UploadWeight");
  }
  absl::Status BeginStep(const FlatBatch&) override { return Missing("BeginStep"); }
  absl::Status Embed(const DeviceWeight&, float*) override { return Missing("Embed"); }
  absl::Status RmsNorm(const float* x, const float* weight, float* out, int64_t rows, int64_t cols,
                       float eps) override {
    return Launched(kernels::cuda::RmsNorm(x, weight, out, rows, cols, eps, stream_),
                    absl::StrCat("RmsNorm(rows=", rows, ", cols=", cols, ")"));
  }
  absl::Status MatMul(const DeviceWeight&, const float*, int64_t, float*, int64_t) override {
    return Missing("MatMul");
  }
  absl::Status Add(float*, const float*, int64_t) override { return Missing("Add"); }
  absl::Status AddBias(float*, const float*, int64_t, int64_t) override {
    return Missing("AddBias");
  }
  absl::Status Scale(float*, int64_t, float) override { return Missing("Scale"); }
  absl::Status SoftCap(float*, int64_t, float) override { return Missing("SoftCap"); }
  absl::Status GatedActivation(FfnActivation, float*, const float*, int64_t) override {
    return Missing("GatedActivation");
  }
  absl::Status Rope(float*, int64_t, const RopeSpec&) override { return Missing("Rope"); }
  absl::Status WriteKv(const AttentionShape&, const float*, const float*, float*, float*) override {
    return Missing("WriteKv");
  }
  absl::Status PagedAttention(const AttentionShape&, const float*, const float*, const float*,
                              float*) override {
    return Missing("PagedAttention");
  }
  absl::Status GatherLogitRows(const float*, int64_t, float*) override {
    return Missing("GatherLogitRows");
  }
  absl::Status Copy2D(float*, int64_t, const float*, int64_t, int64_t, int64_t) override {
    return Missing("Copy2D");
  }

 private:
  static absl::Status Missing(const char* op) {
    return absl::UnimplementedError(absl::StrCat("the CUDA backend has no ", op, " yet"));
  }
  static absl::Status Launched(cudaError_t e, const std::string& what) {
    if (e != cudaSuccess) return CudaError(e, what);
    return absl::OkStatus();
  }

  int device_;
  std::string name_;
  cudaStream_t stream_;
};

}  // namespace

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return count;
}

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int device) {
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    cudaGetLastError();
    return CudaError(e, "cudaGetDeviceCount");
  }
  if (device < 0 || device >= count) {
    return absl::UnavailableError(
        absl::StrCat("CUDA device ", device, " requested; ", count, " present"));
  }
  if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess) {
    return CudaError(e, absl::StrCat("cudaSetDevice(", device, ")"));
  }
  cudaDeviceProp prop{};
  if (cudaError_t e = cudaGetDeviceProperties(&prop, device); e != cudaSuccess) {
    return CudaError(e, absl::StrCat("cudaGetDeviceProperties(", device, ")"));
  }
  cudaStream_t stream = nullptr;
  if (cudaError_t e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking); e != cudaSuccess) {
    return CudaError(e, "cudaStreamCreateWithFlags");
  }
  return std::make_unique<CudaBackend>(device, absl::StrCat("cuda:", device, " (", prop.name, ")"),
                                       stream);
}

}  // namespace infer
