// The NCCL communicator: the Communicator interface over NVIDIA's NCCL, for ranks whose tensors
// live in GPU memory. The group is formed over an existing communicator (the TCP mesh the
// cluster's rendezvous authenticated): every rank checks its device, the ranks agree that all of
// them can take part (so that one rank without a GPU fails every rank at once, naming itself,
// instead of leaving the others waiting), rank 0 makes the ncclUniqueId and broadcasts it over
// that communicator, and each rank joins with a non-blocking ncclCommInitRankConfig whose
// progress it polls against a timeout.
//
//   INFER_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> tcp, JoinTcp(leader, tcp_options));
//   NcclOptions o;
//   o.device = local_rank;
//   INFER_ASSIGN_OR_RETURN(std::unique_ptr<Communicator> nccl, CreateNcclCommunicator(*tcp, o));
//   nccl->AllReduceSum(device_ptr, n, ReduceType::kBF16, timeout);
//
// Data: every pointer given to the result's calls is memory of `device` (cudaMalloc'd, or
// managed). Each call is enqueued on the communicator's own stream and waited for: the call
// returns when the operation is complete, so the caller's buffers may be reused at once. A call
// that makes no progress within its timeout aborts the NCCL communicator (ncclCommAbort) and
// returns DeadlineExceeded; an NCCL or CUDA error returns Unavailable or Internal naming the
// call, this rank and NCCL's text. Either breaks the communicator, as the interface says.
//
// Builds without CUDA or NCCL have the same API: CreateNcclCommunicator returns
// FailedPrecondition (after the ranks agree, so that every rank gets it) and NcclAvailable()
// is false.
#ifndef INFER_COMM_NCCL_COMMUNICATOR_H_
#define INFER_COMM_NCCL_COMMUNICATOR_H_

#include <memory>

#include "absl/status/statusor.h"
#include "libinfer/comm/communicator.h"

namespace infer::comm {

struct NcclOptions {
  // The CUDA device this rank uses (its ordinal in this process's CUDA_VISIBLE_DEVICES).
  int device = 0;
  // How long forming the group may take: the readiness exchange, the id's broadcast and
  // ncclCommInitRankConfig together.
  Timeout init_timeout = std::chrono::seconds(60);
};

// Whether this build has NCCL (it still needs a GPU and a driver at run time).
bool NcclAvailable();

// The NCCL communicator of the ranks of `bootstrap`, numbered as there (see the file comment).
// `bootstrap` is used only during this call. Every rank of `bootstrap` must call it. Errors:
// FailedPrecondition naming the first rank that cannot take part (no NCCL in its build, no CUDA
// device or driver, a bad device ordinal), with that rank's reason; DeadlineExceeded or
// Unavailable when a rank is gone or silent; Internal for an NCCL failure.
absl::StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator(Communicator& bootstrap,
                                                                     const NcclOptions& options);

}  // namespace infer::comm

#endif  // INFER_COMM_NCCL_COMMUNICATOR_H_
