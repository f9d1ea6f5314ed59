// libinfer — Cluster: the processes that together run one model, spread tensor-parallel (each
// layer's heads and FFN split over ranks) and pipeline-parallel (layers split into stages).
//
// Rank 0 is the leader: it serves the API, runs the Scheduler, and sends every step to the
// other ranks (workers), which hold their slices of the weights and their parts of the KV cache.
// Ranks talk over TCP (CPUs) with a shared secret: a rank joins only when it proves it knows
// the secret (HMAC challenge), and a connection that does not is dropped without touching the
// model.
//
//   // Leader (rank 0): listen, then load; Load waits for every rank to join.
//   infer::ClusterOptions co;
//   co.tensor_parallel_size = 2;
//   co.address = "0.0.0.0:29500";
//   co.secret = ...;                                      // the same on every rank
//   auto cluster = infer::Cluster::Create(co);            // binds the port at once
//   infer::ModelOptions mo;
//   mo.path = "model.gguf";
//   mo.cluster = cluster->get();
//   auto model = infer::Model::Load(mo);                  // every rank loads its own slice
//
//   // Worker (rank 1, another process or host):
//   co.rank = 1;
//   co.address = "leader-host:29500";
//   auto worker = infer::Cluster::Create(co);
//   absl::Status done = (*worker)->RunWorker();           // until the leader shuts down
//
// Faults: when a rank dies or stops answering within `timeout`, the step that needed it fails
// (its requests finish with an error), health() names the rank, and every later step fails at
// once: the group does not re-form in place. A host program (infer-cli serve) then exits with a
// non-zero status so that its supervisor (Kubernetes, LeaderWorkerSet) restarts the group.
//
// Thread-safety: const methods may be called from any thread.
#ifndef INFER_CLUSTER_H_
#define INFER_CLUSTER_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace infer {

struct ClusterOptions {
  // Ranks per pipeline stage: each layer's heads and FFN are split over them.
  int tensor_parallel_size = 1;
  // Pipeline stages: contiguous ranges of layers, one after another.
  int pipeline_parallel_size = 1;
  // This process's rank in [0, tensor_parallel_size * pipeline_parallel_size); 0 is the leader.
  // Rank r is tensor-parallel rank r % tensor_parallel_size of stage r / tensor_parallel_size.
  int rank = 0;
  // The leader's "host:port": where the leader listens (port 0: any free port, see port()), and
  // where workers connect.
  std::string address = "127.0.0.1:0";
  // The shared secret (at least 16 bytes) that every rank must know; there is no default.
  std::string secret;
  // How long the leader waits for every rank to join (and a worker for the leader to answer).
  std::chrono::milliseconds join_timeout{std::chrono::minutes(10)};
  // How long a rank may stay silent inside a step (or a load) before it counts as gone.
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  // While idle, the leader checks every rank at this interval, so a dead rank shows in health()
  // without waiting for a request. 0: only when a step runs.
  std::chrono::milliseconds heartbeat_interval{std::chrono::seconds(1)};
  // Frames between ranks always carry an integrity tag (AES-128-GCM under keys derived in the
  // handshake: a changed, replayed or reordered frame closes the link); with `encrypt` their
  // payloads are also encrypted. Every rank must agree.
  bool encrypt = false;
  // Worker threads of this rank's forward pass; 0: what ModelOptions::num_threads says (on a
  // worker: one per core).
  int num_threads = 0;
};

// Fills the options from the environment: TENSOR_PARALLELISM, PIPELINE_PARALLELISM (the vLLM +
// Ray deployment's names), LWS_LEADER_ADDRESS, LWS_WORKER_INDEX, LWS_GROUP_SIZE (LeaderWorkerSet),
// INFER_CLUSTER_SECRET or INFER_CLUSTER_SECRET_FILE, INFER_CLUSTER_PORT (default 29500 with
// LWS_LEADER_ADDRESS). With LWS_GROUP_SIZE and no TENSOR_PARALLELISM, tensor parallelism is
// LWS_GROUP_SIZE / pipeline parallelism (the group's size is stated once, in the LeaderWorkerSet).
// Fields the environment does not name keep their values in `defaults`.
// InvalidArgument naming the variable for values that do not parse or do not agree (e.g. a group
// size other than tensor x pipeline).
absl::StatusOr<ClusterOptions> ClusterOptionsFromEnvironment(ClusterOptions defaults = {});

// The state of one rank, as the leader sees it.
struct RankState {
  int rank = 0;
  int tensor_parallel_rank = 0;
  int pipeline_stage = 0;
  std::string address;  // where it connected from ("" for the leader itself)
  bool joined = false;
  bool alive = false;
  std::string error;  // why it is gone; "" while alive
};

class Cluster {
 public:
  // Rank 0 binds its port at once (workers may connect from then on; Model::Load waits for
  // them). A worker connects and authenticates (waiting up to join_timeout for the leader).
  // InvalidArgument for bad options (naming the field); Unavailable / DeadlineExceeded /
  // PermissionDenied when the leader cannot be reached or refuses the secret.
  static absl::StatusOr<std::unique_ptr<Cluster>> Create(const ClusterOptions& options);
  // The leader tells the workers to stop; a worker leaves.
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  const ClusterOptions& options() const;
  int rank() const { return options().rank; }
  int world_size() const;
  // The port the leader listens on (useful with port 0); 0 on workers.
  int port() const;

  // Leader: waits until every rank has joined (Model::Load calls it). Idempotent.
  absl::Status WaitForRanks();

  // Worker: serves the leader's commands (load this rank's slice, run steps) until the leader
  // shuts the group down (OK), this worker Leave()s (OK), or the leader is lost (Unavailable /
  // DeadlineExceeded naming it).
  absl::Status RunWorker();

  // Worker, from any thread (e.g. the one that takes SIGTERM): RunWorker leaves the group at
  // once when it waits for the leader, or after the operation in flight, and returns OK. The
  // leader sees a clean leave ("rank N ... left the group"): the step of that moment fails, its
  // health() names the rank. Waits at most 1.5 s for the leader to close the connection. No
  // effect on the leader. RunWorker may return before Leave() does: the caller keeps the
  // Cluster alive until both have returned.
  void Leave();

  // OK while every rank is alive; otherwise Unavailable naming the first rank that was lost.
  absl::Status health() const;
  // Every rank's state (on a worker: only its own).
  std::vector<RankState> ranks() const;

 private:
  class Impl;  // the implementation's (not part of the API)
  explicit Cluster(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace infer

#endif  // INFER_CLUSTER_H_
