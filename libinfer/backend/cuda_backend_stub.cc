// CUDA entry points of a build without CUDA: the same API answers with a clear Status.
#include "libinfer/backend/backend.h"

namespace infer {

int CudaDeviceCount() { return 0; }

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int device) {
  return absl::UnimplementedError(
      "libinfer was built without CUDA (configure with -DINFER_CUDA=ON and a CUDA toolkit)");
}

}  // namespace infer
