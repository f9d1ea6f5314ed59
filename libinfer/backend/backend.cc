#include "libinfer/backend/backend.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "libinfer/util/status_macros.h"

namespace infer {

absl::Status CheckBufferSize(const DeviceBuffer& buffer, size_t bytes, const char* what) {
  if (bytes <= buffer.size()) return absl::OkStatus();
  return absl::OutOfRangeError(
      absl::StrCat(what, ": ", bytes, " bytes exceed the buffer's ", buffer.size()));
}

absl::Status CheckFlatBatch(const FlatBatch& p) {
  const size_t n = p.tokens.size();
  if (p.positions.size() != n || p.table_begin.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat("flat batch: ", n, " tokens but ",
                                                   p.positions.size(), " positions and ",
                                                   p.table_begin.size(), " table offsets"));
  }
  int32_t max_position = 0;
  for (size_t t = 0; t < n; ++t) {
    if (p.positions[t] < 0 || p.table_begin[t] < 0 ||
        static_cast<size_t>(p.table_begin[t]) >= p.block_tables.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("flat batch: token ", t, " at position ", p.positions[t],
                       " has its table at ", p.table_begin[t], " of ", p.block_tables.size()));
    }
    max_position = std::max(max_position, p.positions[t]);
  }
  if (max_position != p.max_position) {
    return absl::InvalidArgumentError(absl::StrCat("flat batch: max_position ", p.max_position,
                                                   ", but the positions reach ", max_position));
  }
  for (size_t r = 0; r < p.logit_tokens.size(); ++r) {
    if (p.logit_tokens[r] < 0 || static_cast<size_t>(p.logit_tokens[r]) >= n) {
      return absl::InvalidArgumentError(
          absl::StrCat("flat batch: logit row ", r, " names token ", p.logit_tokens[r], " of ", n));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(std::string_view device, int num_threads) {
  if (device == "cpu") return CreateCpuBackend(num_threads);
  // "cuda", or "cuda:" and a decimal index.
  int index = 0;
  constexpr std::string_view kPrefix = "cuda:";
  bool named = device == "cuda";
  if (!named && device.starts_with(kPrefix) && device.size() > kPrefix.size() &&
      device.size() <= kPrefix.size() + 4) {
    named = true;
    for (char c : device.substr(kPrefix.size())) {
      if (c < '0' || c > '9') named = false;
      index = index * 10 + (c - '0');
    }
  }
  if (!named) {
    return absl::InvalidArgumentError(absl::StrCat("device '", std::string(device),
                                                   "': expected cpu, cuda or cuda:N (N a device "
                                                   "index from 0)"));
  }
  absl::StatusOr<std::unique_ptr<Backend>> cuda = CreateCudaBackend(index);
  if (!cuda.ok()) {
    return absl::Status(cuda.status().code(),
                        absl::StrCat("device cuda:", index, ": ", cuda.status().message()));
  }
  return cuda;
}

absl::Status Backend::MatMulShared(const float* x, int64_t m,
                                   std::span<const WeightProduct> products) {
  for (const WeightProduct& p : products) INFER_RETURN_IF_ERROR(MatMul(*p.w, x, m, p.y, p.ldy));
  return absl::OkStatus();
}

absl::Status Backend::CopyToBuffer(const void* host, size_t bytes, DeviceBuffer& dst) {
  INFER_RETURN_IF_ERROR(CheckBufferSize(dst, bytes, "copy to the device"));
  return CopyToDevice(host, bytes, dst.data());
}

absl::Status Backend::CopyFromBuffer(const DeviceBuffer& src, size_t bytes, void* host) {
  INFER_RETURN_IF_ERROR(CheckBufferSize(src, bytes, "copy to the host"));
  return CopyToHost(src.data(), bytes, host);
}

absl::StatusOr<std::unique_ptr<DeviceBuffer>> Backend::UploadBytes(const void* host, size_t bytes) {
  if (bytes == 0) return std::unique_ptr<DeviceBuffer>();
  INFER_ASSIGN_OR_RETURN(std::unique_ptr<DeviceBuffer> buffer, Allocate(bytes));
  INFER_RETURN_IF_ERROR(CopyToDevice(host, bytes, buffer->data()));
  return buffer;
}

absl::StatusOr<std::unique_ptr<DeviceBuffer>> Backend::Upload(const std::vector<float>& values) {
  return UploadBytes(values.data(), values.size() * sizeof(float));
}

absl::Status Backend::Reserve(std::unique_ptr<DeviceBuffer>& buffer, size_t bytes) {
  if (buffer != nullptr && buffer->size() >= bytes) return absl::OkStatus();
  if (buffer != nullptr) INFER_RETURN_IF_ERROR(Synchronize());
  buffer.reset();
  INFER_ASSIGN_OR_RETURN(buffer, Allocate(bytes));
  return absl::OkStatus();
}

}  // namespace infer
