// The device interface: memory and the ops of a forward pass, with one implementation per
// device kind (CPU, CUDA). The model's CPU path calls the CPU kernels directly today; ops move
// behind this interface as the CUDA backend grows, op by op, each checked against the CPU.
#ifndef INFER_BACKEND_BACKEND_H_
#define INFER_BACKEND_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace infer {

// Memory owned by one backend (host memory for the CPU, device memory for CUDA). Freed when
// destroyed. Not copyable.
class DeviceBuffer {
 public:
  virtual ~DeviceBuffer() = default;
  virtual void* data() = 0;
  virtual const void* data() const = 0;
  virtual size_t size() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu", or "cuda:N (device name)".
  virtual std::string name() const = 0;

  // `bytes` of uninitialised memory. ResourceExhausted when the device has too little.
  virtual absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) = 0;

  // Host <-> device copies of `bytes` starting at offset 0. Blocking. OutOfRange when `bytes`
  // exceeds the buffer.
  virtual absl::Status CopyToDevice(const void* host, size_t bytes, DeviceBuffer& dst) = 0;
  virtual absl::Status CopyToHost(const DeviceBuffer& src, size_t bytes, void* host) = 0;

  // out[r][i] = x[r][i] / sqrt(mean_i(x[r]^2) + eps) * weight[i] on F32 buffers of rows x cols
  // (weight: cols). Blocking.
  virtual absl::Status RmsNorm(const DeviceBuffer& x, const DeviceBuffer& weight, DeviceBuffer& out,
                               int64_t rows, int64_t cols, float eps) = 0;
};

// Shared argument checks of the Backend implementations: OutOfRange when `bytes` exceed the
// buffer; for RmsNorm also InvalidArgument for a bad shape.
absl::Status CheckBufferSize(const DeviceBuffer& buffer, size_t bytes, const char* what);
absl::Status CheckRmsNormArgs(const DeviceBuffer& x, const DeviceBuffer& weight,
                              const DeviceBuffer& out, int64_t rows, int64_t cols);

// The CPU backend; always available.
std::unique_ptr<Backend> CreateCpuBackend();

// The CUDA backend on device `device`. Unimplemented when libinfer was built without CUDA;
// Unavailable (with the CUDA error, e.g. "no CUDA driver" or "no GPU") when the machine cannot
// run it. Never aborts: callers fall back to the CPU.
absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int device);

// Number of CUDA devices usable now; 0 without CUDA, driver or GPU.
int CudaDeviceCount();

}  // namespace infer

#endif  // INFER_BACKEND_BACKEND_H_
