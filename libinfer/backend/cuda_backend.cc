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

  absl::Status CopyToDevice(const void* host, size_t bytes, DeviceBuffer& dst) override {
    if (absl::Status s = CheckBufferSize(dst, bytes, "CopyToDevice"); !s.ok()) return s;
    if (cudaError_t e = cudaMemcpy(dst.data(), host, bytes, cudaMemcpyHostToDevice);
        e != cudaSuccess) {
      return CudaError(e, absl::StrCat("cudaMemcpy(host->device, ", bytes, ")"));
    }
    return absl::OkStatus();
  }

  absl::Status CopyToHost(const DeviceBuffer& src, size_t bytes, void* host) override {
    if (absl::Status s = CheckBufferSize(src, bytes, "CopyToHost"); !s.ok()) return s;
    if (cudaError_t e = cudaMemcpy(host, src.data(), bytes, cudaMemcpyDeviceToHost);
        e != cudaSuccess) {
      return CudaError(e, absl::StrCat("cudaMemcpy(device->host, ", bytes, ")"));
    }
    return absl::OkStatus();
  }

  absl::Status RmsNorm(const DeviceBuffer& x, const DeviceBuffer& weight, DeviceBuffer& out,
                       int64_t rows, int64_t cols, float eps) override {
    if (absl::Status s = CheckRmsNormArgs(x, weight, out, rows, cols); !s.ok()) return s;
    cudaError_t e = kernels::cuda::RmsNorm(
        static_cast<const float*>(x.data()), static_cast<const float*>(weight.data()),
        static_cast<float*>(out.data()), rows, cols, eps, stream_);
    if (e == cudaSuccess) e = cudaStreamSynchronize(stream_);
    if (e != cudaSuccess) {
      return CudaError(e, absl::StrCat("RmsNorm(rows=", rows, ", cols=", cols, ")"));
    }
    return absl::OkStatus();
  }

 private:
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
