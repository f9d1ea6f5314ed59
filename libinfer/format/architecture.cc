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
