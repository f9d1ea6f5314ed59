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
  kLlama,   // pre-norm decoder, RMSNorm, RoPE, GQA, SiLU-gated MLP (libinfer/model/llama.cc)
  kQwen3,   // kLlama's runner with per-head Q/K norms (libinfer/model/qwen3.cc)
  kGemma2,  // kLlama's runner, Gemma's recipe (libinfer/model/gemma.cc)
  kGemma3,  // Gemma 2's recipe with per-head Q/K norms (libinfer/model/gemma.cc)
  kPhi3,    // kLlama's runner with a fused gate/up projection (libinfer/model/phi3.cc)
};

// Sliding-window attention interleaved with global layers, as a family's GGUF files state it
// (or leave to the family's defaults).
struct SlidingLayers {
  // Layer l attends within the window when l % pattern < pattern - 1 (the last layer of each
  // group of `pattern` is global); 0: the family has no interleaved windows.
  int64_t pattern = 0;
  int64_t default_window = 0;    // when <arch>.attention.sliding_window is absent
  float default_rope_theta = 0;  // RoPE base of the windowed layers; 0: the global one
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
  // Whether libinfer reads this family's Hugging Face checkpoints (else its GGUF files only).
  bool hf_checkpoints = true;
  SlidingLayers sliding_layers = {};
  // Soft caps (cap * tanh(x / cap)) when the file does not state them; 0: none.
  float default_attn_softcap = 0;
  float default_final_softcap = 0;
};

// Every family, in the order error messages list them.
std::span<const Architecture> Architectures();

// The entry named `name` (GGUF general.architecture or HF model_type); null when unsupported.
const Architecture* FindArchitecture(std::string_view name);

// "llama, mistral or qwen2": the names for an error message.
std::string ArchitectureNames();

}  // namespace infer

#endif  // INFER_FORMAT_ARCHITECTURE_H_
