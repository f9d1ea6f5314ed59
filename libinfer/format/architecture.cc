#include "libinfer/format/architecture.h"

#include <iterator>

namespace infer {
namespace {

constexpr Architecture kArchitectures[] = {
    {"llama", RunnerKind::kLlama, /*gguf_rope_interleaved=*/true,
     /*always_attention_bias=*/false, HfSlidingWindow::kNone},
    {"mistral", RunnerKind::kLlama, /*gguf_rope_interleaved=*/true,
     /*always_attention_bias=*/false, HfSlidingWindow::kSlidingWindow},
    {"qwen2", RunnerKind::kLlama, /*gguf_rope_interleaved=*/false,
     /*always_attention_bias=*/true, HfSlidingWindow::kWhenUseSlidingWindow},
    {"qwen3", RunnerKind::kQwen3, /*gguf_rope_interleaved=*/false,
     /*always_attention_bias=*/false, HfSlidingWindow::kWhenUseSlidingWindow},
    // Gemma 2: every other layer (from the first) slides over 4096 positions with the global
    // RoPE base; attention logits capped at 50 and output logits at 30 unless the file says.
    {"gemma2", RunnerKind::kGemma2, /*gguf_rope_interleaved=*/false,
     /*always_attention_bias=*/false, HfSlidingWindow::kNone, /*hf_checkpoints=*/false,
     SlidingLayers{.pattern = 2, .default_window = 4096, .default_rope_theta = 0},
     /*default_attn_softcap=*/50.0f, /*default_final_softcap=*/30.0f},
    // Gemma 3: five sliding layers to one global, the sliding ones with RoPE base 10000; the
    // window only where the file states one.
    {"gemma3", RunnerKind::kGemma3, /*gguf_rope_interleaved=*/false,
     /*always_attention_bias=*/false, HfSlidingWindow::kNone, /*hf_checkpoints=*/false,
     SlidingLayers{.pattern = 6, .default_window = 0, .default_rope_theta = 10000.0f},
     /*default_attn_softcap=*/0.0f, /*default_final_softcap=*/0.0f},
    // Phi-3's sliding window is ignored as llama.cpp ignores it (its converters state it
    // inconsistently); attention is global.
    {"phi3", RunnerKind::kPhi3, /*gguf_rope_interleaved=*/false,
     /*always_attention_bias=*/false, HfSlidingWindow::kNone, /*hf_checkpoints=*/false},
};

}  // namespace

std::span<const Architecture> Architectures() { return kArchitectures; }

const Architecture* FindArchitecture(std::string_view name) {
  for (const Architecture& a : kArchitectures) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string ArchitectureNames() {
  std::string out;
  const size_t n = std::size(kArchitectures);
  for (size_t i = 0; i < n; ++i) {
    out += i == 0 ? "" : (i + 1 == n ? " or " : ", ");
    out += kArchitectures[i].name;
  }
  return out;
}

}  // namespace infer
