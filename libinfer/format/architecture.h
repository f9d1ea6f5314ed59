// The model families libinfer runs, stated once: what the GGUF and Hugging Face config readers
// need to know of each (the name both formats use, the family's fixed facts) and which runner
// builds it. The readers, the config checks and the runner factory (libinfer/model) all read this
// table, so a new family is one entry here and, if no runner fits it, one runner file.
#ifndef INFER_FORMAT_ARCHITECTURE_H_
#define INFER_FORMAT_ARCHITECTURE_H_

#include <span>
#include <string>
#include <string_view>

namespace infer {

// The forward-pass implementations (libinfer/model): several families may share one.
enum class RunnerKind {
  kLlama,  // pre-norm decoder, RMSNorm, RoPE, GQA, SiLU-gated MLP (libinfer/model/llama.cc)
  kQwen3,  // kLlama's runner with per-head Q/K norms (libinfer/model/qwen3.cc)
};

// How a family's Hugging Face config.json states a sliding attention window.
enum class HfSlidingWindow {
  kNone,                  // no window (the key is ignored)
  kSlidingWindow,         // "sliding_window" when present (Mistral)
  kWhenUseSlidingWindow,  // "sliding_window" only when "use_sliding_window" is true (Qwen2)
};

struct Architecture {
  // GGUF general.architecture (also the prefix of its keys) and HF config.json model_type.
  std::string_view name;
  RunnerKind runner;
  // llama.cpp's converter permutes Q/K rows of this family so that RoPE rotates adjacent pairs
  // ("normal" RoPE); families it leaves alone rotate halves ("neox").
  bool gguf_rope_interleaved;
  // The Q/K/V projections always have biases (HF configs of the family do not say so).
  bool always_attention_bias;
  HfSlidingWindow hf_sliding_window;
};

// Every family, in the order error messages list them.
std::span<const Architecture> Architectures();

// The entry named `name` (GGUF general.architecture or HF model_type); null when unsupported.
const Architecture* FindArchitecture(std::string_view name);

// "llama, mistral or qwen2": the names for an error message.
std::string ArchitectureNames();

}  // namespace infer

#endif  // INFER_FORMAT_ARCHITECTURE_H_
