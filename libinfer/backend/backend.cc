#include "libinfer/backend/backend.h"

#include <tuple>

#include "absl/strings/str_cat.h"

namespace infer {

absl::Status CheckBufferSize(const DeviceBuffer& buffer, size_t bytes, const char* what) {
  if (bytes <= buffer.size()) return absl::OkStatus();
  return absl::OutOfRangeError(
      absl::StrCat(what, ": ", bytes, " bytes exceed the buffer's ", buffer.size()));
}

absl::Status CheckRmsNormArgs(const DeviceBuffer& x, const DeviceBuffer& weight,
                              const DeviceBuffer& out, int64_t rows, int64_t cols) {
  if (rows < 0 || cols <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("RmsNorm: bad shape ", rows, " x ", cols));
  }
  const size_t bytes = static_cast<size_t>(rows * cols) * sizeof(float);
  for (auto [buffer, need, what] :
       {std::tuple{&x, bytes, "RmsNorm x"},
        std::tuple{&weight, static_cast<size_t>(cols) * sizeof(float), "RmsNorm weight"},
        std::tuple{&out, bytes, "RmsNorm out"}}) {
    if (absl::Status s = CheckBufferSize(*buffer, need, what); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace infer
