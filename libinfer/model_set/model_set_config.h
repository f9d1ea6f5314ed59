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
#include <string_view>

// ModelSpec, ModelSetSpec, ParseModelSet, LoadModelSetFile and ParseByteSize are declared
// there.
#include "infer/model_set.h"

#endif  // INFER_MODEL_SET_MODEL_SET_CONFIG_H_
