// The declarative model set (`infer-cli serve --models models.yaml`, or JSON): which models one
// server serves, each with its served name, files, replicas, memory, context, parallel layout,
// sampling defaults and Scheduler knobs. Reading is all or nothing: a document with any bad
// entry is refused whole, with one message that names every problem and the entry it is in
// ("models[1] ('coder'): replicas: ..."), so an operator fixes all of them in one pass and a
// half-valid set never replaces a running one.
//
//   models:
//     - name: chat                  # the `model` of requests; unique
//       path: SmolLM2-135M-Instruct.Q4_1.gguf   # relative to the file's folder
//       replicas: 2                 # or `max`: as many as fit
//       memory: 512MiB              # declared per replica rank; the larger of it and the
//                                   # computed cost is reserved
//       context_length: 4096        # (or max_model_len) 0: the model's
//       tensor_parallel: 1
//       pipeline_parallel: 1
//       device: host                # host or cuda
//       threads: 1                  # forward-pass threads per replica; 0: the server's default
//       sampling: {temperature: 0.7, top_p: 0.9, max_tokens: 256}
//       scheduler: {max_num_seqs: 16, max_num_batched_tokens: 512, kv_cache_memory: 256MiB}
#ifndef INFER_MODEL_SET_MODEL_SET_CONFIG_H_
#define INFER_MODEL_SET_MODEL_SET_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "infer/scheduler.h"

namespace infer::model_set {

// Sampling defaults of one model: what a request that leaves a field out gets instead of the
// API's default. Unset fields keep the API's.
struct SamplingDefaults {
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int32_t> top_k;
  std::optional<float> min_p;
  std::optional<float> repetition_penalty;
  std::optional<float> presence_penalty;
  std::optional<float> frequency_penalty;
  std::optional<int32_t> max_tokens;
};

struct ModelSpec {
  std::string name;
  std::string path;  // absolute, or as written when the document has no folder
  int replicas = 1;
  bool max_replicas = false;  // `replicas: max`
  uint64_t memory_bytes = 0;  // declared per rank; 0: none
  int64_t context_length = 0;
  int tensor_parallel = 1;
  int pipeline_parallel = 1;
  std::string device = "host";
  int threads = 0;
  SamplingDefaults sampling;
  // kv_cache_bytes 0: sized by the model set's default (see the registry).
  SchedulerOptions scheduler;
  // Where the entry is, for messages: "models[1] ('coder')".
  std::string origin;
};

struct ModelSetSpec {
  std::vector<ModelSpec> models;
};

// Reads a model set document. `path` names it in messages, picks the format (.json: JSON;
// otherwise YAML) and is the folder relative model paths are resolved against (none when
// empty). With `check_files`, every model's path must exist. InvalidArgument naming every bad
// entry otherwise.
absl::StatusOr<ModelSetSpec> ParseModelSet(std::string_view path, std::string_view contents,
                                           bool check_files = true);

// Reads and parses a model set file (at most 1 MiB).
absl::StatusOr<ModelSetSpec> LoadModelSetFile(const std::string& path);

// "512MiB", "3.89GiB", "2G", "1048576" -> bytes (K, M, G, T and KiB.. are powers of 1024; KB,
// MB, GB, TB powers of 1000). nullopt for anything else, zero, or a negative size.
std::optional<uint64_t> ParseByteSize(std::string_view text);

}  // namespace infer::model_set

#endif  // INFER_MODEL_SET_MODEL_SET_CONFIG_H_
