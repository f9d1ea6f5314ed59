// Where a model's tensors come from: a GGUF file or a Hugging Face safetensors folder, looked up
// by GGUF-style names ("blk.3.attn_q.weight"). The HF source translates the names.
#ifndef INFER_MODEL_WEIGHT_SOURCE_H_
#define INFER_MODEL_WEIGHT_SOURCE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "libinfer/format/model_config.h"
#include "libinfer/tensor/tensor_view.h"
#include "libinfer/tokenizer/tokenizer_spec.h"

namespace infer {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // The tensor with this GGUF-style name, or null when the file has none.
  virtual const TensorView* Find(std::string_view name) const = 0;
  // Every tensor, for statistics (types, bytes).
  virtual std::vector<const TensorView*> All() const = 0;
  // "gguf" or "safetensors".
  virtual std::string_view format() const = 0;
};

// Everything Model::Load reads from a path before building the forward pass.
struct LoadedModelFiles {
  ModelConfig config;
  TokenizerSpec tokenizer;
  std::unique_ptr<WeightSource> weights;
};

// Opens a GGUF file or an HF folder (decided by whether `path` is a directory).
absl::StatusOr<LoadedModelFiles> OpenModelFiles(const std::string& path);

}  // namespace infer

#endif  // INFER_MODEL_WEIGHT_SOURCE_H_
