// The NCCL communicator (see nccl_communicator.h). Communicators are created non-blocking
// (ncclConfig_t::blocking = 0): NCCL calls then return at once, possibly ncclInProgress, and
// this file polls ncclCommGetAsyncError and the stream against each call's timeout, so that a
// dead or stalled peer becomes DeadlineExceeded (and an ncclCommAbort) instead of a hang.
#include "libinfer/comm/nccl_communicator.h"

#include "libinfer/comm/status_exchange.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "libinfer/util/status_macros.h"

namespace infer::comm {
namespace {

using Clock = std::chrono::steady_clock;

std::string CudaText(cudaError_t e) {
  return absl::StrCat(cudaGetErrorName(e), " (", static_cast<int>(e), "): ", cudaGetErrorString(e));
}

// This rank's device, checked before any NCCL call.
absl::Status CheckDevice(int device) {
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error of a missing driver
    return absl::FailedPreconditionError(
        absl::StrCat("no CUDA device usable (cudaGetDeviceCount: ", CudaText(e), ")"));
  }
  if (device < 0 || device >= count) {
    return absl::FailedPreconditionError(
        absl::StrCat("CUDA device ", device, " does not exist (", count, " visible)"));
  }
  if (cudaError_t e = cudaSetDevice(device); e != cudaSuccess) {
    return absl::FailedPreconditionError(
        absl::StrCat("cudaSetDevice(", device, "): ", CudaText(e)));
  }
  return absl::OkStatus();
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, int rank, int size, int device)
      : comm_(comm), rank_(rank), size_(size), device_(device) {}
  ~NcclCommunicator() override {
    cudaSetDevice(device_);
    if (barrier_ != nullptr) cudaFree(barrier_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    if (comm_ != nullptr) {
      // A broken communicator may have work that never finishes: abort rather than wait.
      if (broken_.ok()) {
        ncclCommFinalize(comm_);
        ncclResult_t state = ncclInProgress;
        const auto deadline = Clock::now() + std::chrono::seconds(10);
        while (state == ncclInProgress && Clock::now() < deadline) {
          ncclCommGetAsyncError(comm_, &state);
          std::this_thread::yield();
        }
        if (state == ncclSuccess) {
          ncclCommDestroy(comm_);
          return;
        }
      }
      ncclCommAbort(comm_);
    }
  }

  // Makes the stream and the barrier's buffer (after the communicator is formed).
  absl::Status Init() {
    if (cudaError_t e = cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking);
        e != cudaSuccess) {
      return absl::InternalError(absl::StrCat("cudaStreamCreate: ", CudaText(e)));
    }
    if (cudaError_t e = cudaMalloc(&barrier_, sizeof(float)); e != cudaSuccess) {
      return absl::ResourceExhaustedError(absl::StrCat("cudaMalloc(4): ", CudaText(e)));
    }
    return absl::OkStatus();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  absl::Status AllReduceSum(void* data, size_t count, ReduceType type, Timeout timeout) override {
    const ncclDataType_t t = type == ReduceType::kF32 ? ncclFloat32 : ncclBfloat16;
    return Run("ncclAllReduce", timeout,
               [&] { return ncclAllReduce(data, data, count, t, ncclSum, comm_, stream_); });
  }
  absl::Status AllGather(const void* send, size_t bytes, void* recv, Timeout timeout) override {
    return Run("ncclAllGather", timeout,
               [&] { return ncclAllGather(send, recv, bytes, ncclUint8, comm_, stream_); });
  }
  absl::Status Broadcast(void* data, size_t bytes, int root, Timeout timeout) override {
    if (root < 0 || root >= size_) {
      return absl::InvalidArgumentError(
          absl::StrCat("Broadcast root ", root, " is outside [0, ", size_, ")"));
    }
    return Run("ncclBroadcast", timeout,
               [&] { return ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_); });
  }
  absl::Status Send(const void* data, size_t bytes, int peer, Timeout timeout) override {
    INFER_RETURN_IF_ERROR(CheckPeer(peer));
    return Run("ncclSend", timeout,
               [&] { return ncclSend(data, bytes, ncclUint8, peer, comm_, stream_); });
  }
  absl::Status Recv(void* data, size_t bytes, int peer, Timeout timeout) override {
    INFER_RETURN_IF_ERROR(CheckPeer(peer));
    return Run("ncclRecv", timeout,
               [&] { return ncclRecv(data, bytes, ncclUint8, peer, comm_, stream_); });
  }
  absl::Status Barrier(Timeout timeout) override {
    return Run("barrier (ncclAllReduce)", timeout, [&] {
      return ncclAllReduce(barrier_, barrier_, 1, ncclFloat32, ncclSum, comm_, stream_);
    });
  }

  // NCCL splits collectively: every rank of this group calls Subgroup at the same point, each
  // with its own (disjoint) group; the groups are told apart by their lowest rank.
  absl::StatusOr<std::unique_ptr<Communicator>> Subgroup(std::span<const int> ranks) override {
    INFER_RETURN_IF_ERROR(broken_);
    int key = -1;
    int color = size_;
    for (size_t i = 0; i < ranks.size(); ++i) {
      if (ranks[i] < 0 || ranks[i] >= size_) {
        return absl::InvalidArgumentError(
            absl::StrCat("Subgroup: rank ", ranks[i], " is outside [0, ", size_, ")"));
      }
      if (ranks[i] == rank_) key = static_cast<int>(i);
      color = std::min(color, ranks[i]);
    }
    if (key < 0) {
      return absl::InvalidArgumentError(absl::StrCat("Subgroup: rank ", rank_, " is not in it"));
    }
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclComm_t sub = nullptr;
    INFER_RETURN_IF_ERROR(Check("ncclCommSplit", ncclCommSplit(comm_, color, key, &sub, &config)));
    INFER_RETURN_IF_ERROR(WaitFor("ncclCommSplit", sub, Clock::now() + std::chrono::seconds(60)));
    auto out =
        std::make_unique<NcclCommunicator>(sub, key, static_cast<int>(ranks.size()), device_);
    INFER_RETURN_IF_ERROR(out->Init());
    return std::unique_ptr<Communicator>(std::move(out));
  }

  absl::Status health() const override { return broken_; }

  // Polls `comm` until it leaves ncclInProgress. Aborts it and returns DeadlineExceeded past
  // `deadline`.
  absl::Status WaitFor(const char* what, ncclComm_t comm, Clock::time_point deadline) {
    for (;;) {
      ncclResult_t state = ncclSuccess;
      if (ncclResult_t r = ncclCommGetAsyncError(comm, &state); r != ncclSuccess) state = r;
      if (state == ncclSuccess) return absl::OkStatus();
      if (state != ncclInProgress) return Check(what, state);
      if (Clock::now() >= deadline) return TimedOut(what, comm);
      std::this_thread::yield();
    }
  }

 private:
  absl::Status CheckPeer(int peer) const {
    if (peer < 0 || peer >= size_ || peer == rank_) {
      return absl::InvalidArgumentError(
          absl::StrCat("peer ", peer, " is not another rank of [0, ", size_, ")"));
    }
    return absl::OkStatus();
  }

  absl::Status Check(const char* what, ncclResult_t r) {
    if (r == ncclSuccess || r == ncclInProgress) return absl::OkStatus();
    const std::string text = absl::StrCat("rank ", rank_, ": ", what, ": ", ncclGetErrorString(r),
                                          " (", ncclGetLastError(comm_), ")");
    absl::Status s = r == ncclRemoteError || r == ncclSystemError
                         ? absl::UnavailableError(text + "; a peer is gone or unreachable")
                         : absl::InternalError(text);
    if (broken_.ok()) broken_ = s;
    return s;
  }

  absl::Status TimedOut(const char* what, ncclComm_t comm) {
    ncclCommAbort(comm);
    if (comm == comm_) comm_ = nullptr;
    absl::Status s = absl::DeadlineExceededError(
        absl::StrCat("rank ", rank_, ": ", what,
                     " made no progress before its timeout: a peer is silent or "
                     "gone; the NCCL communicator was aborted"));
    if (broken_.ok()) broken_ = s;
    return s;
  }

  // Enqueues `op` on the stream and waits for it.
  template <class Op>
  absl::Status Run(const char* what, Timeout timeout, Op op) {
    INFER_RETURN_IF_ERROR(broken_);
    if (cudaError_t e = cudaSetDevice(device_); e != cudaSuccess) {
      return absl::InternalError(absl::StrCat("cudaSetDevice: ", CudaText(e)));
    }
    const Clock::time_point deadline = Clock::now() + timeout;
    INFER_RETURN_IF_ERROR(Check(what, op()));
    INFER_RETURN_IF_ERROR(WaitFor(what, comm_, deadline));
    for (;;) {
      const cudaError_t e = cudaStreamQuery(stream_);
      if (e == cudaSuccess) return absl::OkStatus();
      if (e != cudaErrorNotReady) {
        absl::Status s = absl::InternalError(
            absl::StrCat("rank ", rank_, ": ", what, ": the stream failed: ", CudaText(e)));
        if (broken_.ok()) broken_ = s;
        return s;
      }
      ncclResult_t state = ncclSuccess;
      ncclCommGetAsyncError(comm_, &state);
      if (state != ncclSuccess && state != ncclInProgress) return Check(what, state);
      if (Clock::now() >= deadline) return TimedOut(what, comm_);
      std::this_thread::yield();
    }
  }

  ncclComm_t comm_;
  int rank_;
  int size_;
  int device_;
  cudaStream_t stream_ = nullptr;
  float* barrier_ = nullptr;
  absl::Status broken_;
};

}  // namespace

bool NcclAvailable() { return true; }

absl::StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator(Communicator& bootstrap,
                                                                     const NcclOptions& options) {
  const Clock::time_point deadline = Clock::now() + options.init_timeout;
  INFER_RETURN_IF_ERROR(AgreeStatus(bootstrap, CheckDevice(options.device), options.init_timeout));
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  absl::Status made = absl::OkStatus();
  if (bootstrap.rank() == 0) {
    if (ncclResult_t r = ncclGetUniqueId(&id); r != ncclSuccess) {
      made = absl::InternalError(absl::StrCat("ncclGetUniqueId: ", ncclGetErrorString(r)));
    }
  }
  // Rank 0's failure reaches everyone before anyone waits for an id that will not come.
  INFER_RETURN_IF_ERROR(AgreeStatus(bootstrap, made, options.init_timeout));
  INFER_RETURN_IF_ERROR(bootstrap.Broadcast(&id, sizeof(id), 0, options.init_timeout));

  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  const ncclResult_t r =
      ncclCommInitRankConfig(&comm, bootstrap.size(), id, bootstrap.rank(), &config);
  if (r != ncclSuccess && r != ncclInProgress) {
    if (comm != nullptr) ncclCommAbort(comm);
    return absl::InternalError(absl::StrCat("rank ", bootstrap.rank(),
                                            ": ncclCommInitRankConfig: ", ncclGetErrorString(r)));
  }
  auto out =
      std::make_unique<NcclCommunicator>(comm, bootstrap.rank(), bootstrap.size(), options.device);
  INFER_RETURN_IF_ERROR(out->WaitFor("ncclCommInitRankConfig", comm, deadline));
  INFER_RETURN_IF_ERROR(out->Init());
  return std::unique_ptr<Communicator>(std::move(out));
}

}  // namespace infer::comm
