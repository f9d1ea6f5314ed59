// The runner factory (and the registry of clusters' ModelParallelism): the file's architecture
// (libinfer/format/architecture.h) names the runner that builds it. A family with a runner of its
// own adds one case to each switch below.
#include <map>
#include <mutex>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "libinfer/format/architecture.h"
#include "libinfer/model/decoder_family.h"
#include "libinfer/model/llama.h"
#include "libinfer/model/parallelism.h"
#include "libinfer/util/status_macros.h"

namespace infer {
namespace {

absl::StatusOr<RunnerKind> RunnerKindOf(const ModelConfig& config) {
  const Architecture* family = FindArchitecture(config.architecture);
  if (family == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("architecture '", config.architecture,
                                                   "' has no runner (expected ",
                                                   ArchitectureNames(), ")"));
  }
  return family->runner;
}

// Every family runs on LlamaModel so far, each with its recipe.
const DecoderFamily& FamilyOf(RunnerKind kind) {
  switch (kind) {
    case RunnerKind::kLlama:
      return LlamaFamily();
    case RunnerKind::kQwen3:
      return Qwen3Family();
    case RunnerKind::kGemma2:
      return Gemma2Family();
    case RunnerKind::kGemma3:
      return Gemma3Family();
    case RunnerKind::kPhi3:
      return Phi3Family();
  }
  return LlamaFamily();
}

}  // namespace

namespace {

std::mutex registry_mu;
std::map<const Cluster*, ModelParallelism*>& Registry() {
  static auto* registry = new std::map<const Cluster*, ModelParallelism*>();
  return *registry;
}

}  // namespace

void RegisterModelParallelism(const Cluster* cluster, ModelParallelism* parallelism) {
  std::lock_guard<std::mutex> lock(registry_mu);
  if (parallelism == nullptr) {
    Registry().erase(cluster);
  } else {
    Registry()[cluster] = parallelism;
  }
}

ModelParallelism* FindModelParallelism(const Cluster* cluster) {
  std::lock_guard<std::mutex> lock(registry_mu);
  auto it = Registry().find(cluster);
  return it == Registry().end() ? nullptr : it->second;
}

absl::StatusOr<std::unique_ptr<ModelRunner>> CreateModelRunner(
    const ModelConfig& config, const WeightSource& weights, const RunnerLayout& layout,
    comm::Communicator* tp_comm, comm::Timeout timeout, int num_threads,
    std::unique_ptr<Backend> backend) {
  INFER_ASSIGN_OR_RETURN(const RunnerKind kind, RunnerKindOf(config));
  LlamaSlice slice;
  slice.layout = layout;
  slice.tp_comm = tp_comm;
  slice.timeout = timeout;
  INFER_ASSIGN_OR_RETURN(
      std::unique_ptr<LlamaModel> llama,
      LlamaModel::Create(config, FamilyOf(kind), weights, slice, num_threads, std::move(backend)));
  return std::unique_ptr<ModelRunner>(std::move(llama));
}

absl::StatusOr<RunnerFootprint> EstimateRunnerFootprint(const ModelConfig& config,
                                                        const WeightSource& weights,
                                                        const RunnerLayout& layout, int64_t tokens,
                                                        int64_t logit_rows) {
  INFER_ASSIGN_OR_RETURN(const RunnerKind kind, RunnerKindOf(config));
  return LlamaModel::Footprint(config, FamilyOf(kind), weights, layout, tokens, logit_rows);
}

}  // namespace infer
