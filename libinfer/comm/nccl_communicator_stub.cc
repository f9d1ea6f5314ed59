// A build without NCCL (or without CUDA): the same API, refusing with a clear Status that
// every rank of the group gets.
#include "libinfer/comm/nccl_communicator.h"

#include "libinfer/comm/status_exchange.h"

namespace infer::comm {

bool NcclAvailable() { return false; }

absl::StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator(Communicator& bootstrap,
                                                                     const NcclOptions& options) {
  absl::Status agreed = AgreeStatus(
      bootstrap,
      absl::FailedPreconditionError(
          "this build of libinfer has no NCCL (configure with the CUDA toolkit and NCCL)"),
      options.init_timeout);
  return agreed;
}

}  // namespace infer::comm
