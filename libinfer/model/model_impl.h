// Model::Impl: what a loaded model holds. Shared by model.cc (loading), the engine (Generate,
// the Scheduler) and the cluster, which drive the forward pass through `runner`.
#ifndef INFER_MODEL_MODEL_IMPL_H_
#define INFER_MODEL_MODEL_IMPL_H_

#include <memory>
#include <mutex>
#include <string>

#include "infer/model.h"
#include "libinfer/model/model_runner.h"
#include "libinfer/model/weight_source.h"

namespace infer {

class Model::Impl {
 public:
  ModelInfo info;
  std::string chat_template;
  std::unique_ptr<WeightSource> weights;  // owns the mapping the runner reads
  std::unique_ptr<Tokenizer> tokenizer;
  // The whole model as the engine sees it: tokens in, logits out (for a cluster's leader, a
  // runner that drives every rank).
  std::unique_ptr<ModelRunner> runner;
  // The runner serves one caller at a time.
  std::mutex forward_mu;
};

// The engine's and the cluster's way in to a Model's internals.
struct ModelInternals {
  static Model::Impl& Get(Model& model) { return *model.impl_; }
};

}  // namespace infer

#endif  // INFER_MODEL_MODEL_IMPL_H_
