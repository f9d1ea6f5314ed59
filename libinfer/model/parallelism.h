// What Model::Load asks of a cluster (include/infer/cluster.h) to load one rank's part of a
// model: the rank's layout, its tensor-parallel communicator, and, on the leader, the runner
// that drives every rank. Declared here, below the cluster layer, so that the model layer
// depends on the interface only.
#ifndef INFER_MODEL_PARALLELISM_H_
#define INFER_MODEL_PARALLELISM_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "infer/model.h"
#include "libinfer/comm/communicator.h"
#include "libinfer/format/model_config.h"
#include "libinfer/model/model_runner.h"
#include "libinfer/model/weight_source.h"

namespace infer {

class Cluster;

class ModelParallelism {
 public:
  virtual ~ModelParallelism() = default;

  // Leader: waits for every rank to join, then tells the workers to load `options.path` (each
  // its own slice) while the leader loads its own.
  virtual absl::Status StartLoad(const ModelOptions& options) = 0;

  // This rank's part of a model of `config`: its stage's layers and its tensor-parallel rank.
  // InvalidArgument when the layout does not fit the model (more stages than layers).
  virtual absl::StatusOr<RunnerLayout> LayoutFor(const ModelConfig& config) const = 0;
  // The communicator of this rank's tensor-parallel group (null when its size is 1), and the
  // timeout of each of its calls.
  virtual comm::Communicator* tensor_parallel_comm() = 0;
  virtual comm::Timeout timeout() const = 0;

  // Leader: waits for every worker's load to finish and returns the runner that runs each step
  // on every rank around `local` (the leader's own slice). An error names the rank that failed.
  virtual absl::StatusOr<std::unique_ptr<ModelRunner>> FinishLoad(
      std::unique_ptr<ModelRunner> local) = 0;
};

// A leader's ModelParallelism is registered under its public Cluster (by the cluster layer, for
// the Cluster's lifetime) and found there by Model::Load: the public header names no internal
// type. Register with null to remove.
void RegisterModelParallelism(const Cluster* cluster, ModelParallelism* parallelism);
// The registered ModelParallelism of `cluster`; null for a worker's Cluster or an unknown one.
ModelParallelism* FindModelParallelism(const Cluster* cluster);

// Builds the runner of `config`'s family for `layout` over `weights` (which must outlive it),
// on `backend` (null: the CPU with `num_threads` threads): the runner its Architecture entry
// names. InvalidArgument for an architecture without an entry.
absl::StatusOr<std::unique_ptr<ModelRunner>> CreateModelRunner(
    const ModelConfig& config, const WeightSource& weights, const RunnerLayout& layout,
    comm::Communicator* tp_comm, comm::Timeout timeout, int num_threads,
    std::unique_ptr<Backend> backend = nullptr);

// What the runner CreateModelRunner would build for `layout` holds, with activations for steps
// of `tokens` tokens of which `logit_rows` want logits, computed from `weights` without building
// it. Errors are CreateModelRunner's for the same layout.
absl::StatusOr<RunnerFootprint> EstimateRunnerFootprint(const ModelConfig& config,
                                                        const WeightSource& weights,
                                                        const RunnerLayout& layout, int64_t tokens,
                                                        int64_t logit_rows);

}  // namespace infer

#endif  // INFER_MODEL_PARALLELISM_H_
