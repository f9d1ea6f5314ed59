// Model::Impl: what a loaded model holds. Shared by model.cc (loading) and the engine's
// Generate (which drives the forward pass).
#ifndef INFER_MODEL_MODEL_IMPL_H_
#define INFER_MODEL_MODEL_IMPL_H_

#include <memory>
#include <mutex>
#include <string>

#include "infer/model.h"
#include "libinfer/model/llama.h"
#include "libinfer/model/weight_source.h"
#include "libinfer/util/thread_pool.h"

namespace infer {

class Model::Impl {
 public:
  ModelInfo info;
  std::string chat_template;
  std::unique_ptr<WeightSource> weights;  // owns the mapping the forward pass reads
  std::unique_ptr<Tokenizer> tokenizer;
  std::unique_ptr<LlamaModel> llama;
  std::unique_ptr<ThreadPool> pool;
  // The forward pass's scratch and the pool serve one caller at a time.
  std::mutex forward_mu;
};

}  // namespace infer

#endif  // INFER_MODEL_MODEL_IMPL_H_
