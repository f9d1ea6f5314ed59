// The flags that spread one model over processes (`serve --tensor-parallel-size 2 ...`), the
// local workers that serve starts itself when every rank runs on this host, and `infer-cli
// worker`, which joins a leader on another host (a LeaderWorkerSet worker pod).
#ifndef INFER_CLI_CLUSTER_COMMAND_H_
#define INFER_CLI_CLUSTER_COMMAND_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "infer/cluster.h"

namespace infer::cli {

struct ClusterFlags {
  // 0: unset (1, or with LWS_GROUP_SIZE the group's size over the pipeline stages).
  int tensor_parallel_size = 0;
  int pipeline_parallel_size = 1;
  // Leader: where to listen; worker: the leader's "host:port". Empty: from the environment
  // (LWS_LEADER_ADDRESS), else 127.0.0.1 with a free port (local workers).
  std::string address;
  std::string secret_file;
  double timeout_seconds = 30;
  // How long the leader waits for every rank, and a worker for the leader (its DNS name may
  // not resolve yet, its port may refuse), before giving up.
  double join_timeout_seconds = 600;
  // Encrypt the frames between ranks (they are always integrity-checked).
  bool encrypt = false;
  // Leader only: start the other ranks as child processes of this one (default: unless
  // LWS_LEADER_ADDRESS says that the workers are pods of their own).
  std::optional<bool> spawn_workers;
  // Leader only: seconds between losing a rank and exiting (so that /health and /ready can be
  // seen and in-flight requests get their errors).
  double exit_delay_seconds = 5;
  // Worker only.
  int rank = -1;
};

// Adds the flags shared by serve and worker.
void AddClusterFlags(CLI::App& app, ClusterFlags& flags);

// The leader's cluster and the local workers it started (killed and reaped when destroyed).
class LeaderCluster {
 public:
  // Null cluster() when the flags ask for one process.
  static absl::StatusOr<std::unique_ptr<LeaderCluster>> Start(const ClusterFlags& flags,
                                                              int threads);
  ~LeaderCluster();
  Cluster* cluster() { return cluster_.get(); }

 private:
  std::unique_ptr<Cluster> cluster_;
  std::vector<pid_t> children_;
};

}  // namespace infer::cli

#endif  // INFER_CLI_CLUSTER_COMMAND_H_
