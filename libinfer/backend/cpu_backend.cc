#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libinfer/backend/backend.h"
#include "libinfer/kernels/cpu/ops.h"

namespace infer {
namespace {

class HostBuffer : public DeviceBuffer {
 public:
  explicit HostBuffer(size_t bytes) : bytes_(bytes) {}
  void* data() override { return bytes_.data(); }
  const void* data() const override { return bytes_.data(); }
  size_t size() const override { return bytes_.size(); }

 private:
  std::vector<unsigned char> bytes_;
};

class CpuBackend : public Backend {
 public:
  std::string name() const override { return "cpu"; }

  absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) override {
    return std::make_unique<HostBuffer>(bytes);
  }
  absl::Status CopyToDevice(const void* host, size_t bytes, DeviceBuffer& dst) override {
    if (absl::Status s = CheckBufferSize(dst, bytes, "CopyToDevice"); !s.ok()) return s;
    if (bytes > 0) std::memcpy(dst.data(), host, bytes);
    return absl::OkStatus();
  }
  absl::Status CopyToHost(const DeviceBuffer& src, size_t bytes, void* host) override {
    if (absl::Status s = CheckBufferSize(src, bytes, "CopyToHost"); !s.ok()) return s;
    if (bytes > 0) std::memcpy(host, src.data(), bytes);
    return absl::OkStatus();
  }
  absl::Status RmsNorm(const DeviceBuffer& x, const DeviceBuffer& weight, DeviceBuffer& out,
                       int64_t rows, int64_t cols, float eps) override {
    if (absl::Status s = CheckRmsNormArgs(x, weight, out, rows, cols); !s.ok()) return s;
    const float* xp = static_cast<const float*>(x.data());
    const float* wp = static_cast<const float*>(weight.data());
    float* op = static_cast<float*>(out.data());
    for (int64_t r = 0; r < rows; ++r)
      kernels::cpu::RmsNorm(xp + r * cols, wp, op + r * cols, cols, eps);
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Backend> CreateCpuBackend() { return std::make_unique<CpuBackend>(); }

}  // namespace infer
