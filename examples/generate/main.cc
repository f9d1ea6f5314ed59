// A host program that embeds libinfer: load a model, stream a completion, stop on demand.
//
//   generate_example MODEL.gguf "Tell me a story" [max_tokens]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "infer/log.h"
#include "infer/model.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL PROMPT [MAX_TOKENS]\n", argv[0]);
    return 2;
  }
  // Route libinfer's messages through the host's own logging.
  infer::SetLogSink([](infer::LogSeverity severity, std::string_view message) {
    if (severity >= infer::LogSeverity::kWarning) {
      std::fprintf(stderr, "[host log] %.*s\n", static_cast<int>(message.size()), message.data());
    }
  });

  infer::ModelOptions options;
  options.path = argv[1];
  absl::StatusOr<std::unique_ptr<infer::Model>> model = infer::Model::Load(options);
  if (!model.ok()) {
    std::fprintf(stderr, "cannot load: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  const infer::ModelInfo& info = (*model)->info();
  std::fprintf(stderr, "%s: %lld layers, context %lld, %s\n", info.name.c_str(),
               static_cast<long long>(info.num_layers), static_cast<long long>(info.context_length),
               info.weight_types.c_str());

  // Wrap the prompt in the model's chat format (ChatML for SmolLM2).
  const std::string prompt =
      "<|im_start|>user\n" + std::string(argv[2]) + "<|im_end|>\n<|im_start|>assistant\n";
  infer::SamplingParams params;
  params.temperature = 0.7f;
  params.top_p = 0.9f;
  params.seed = 42;
  params.max_tokens = argc > 3 ? std::atoi(argv[3]) : 128;

  // The callback streams text; returning false would cancel the generation.
  auto done = (*model)->Generate(prompt, params, [](const infer::TokenEvent& event) {
    std::fwrite(event.text.data(), 1, event.text.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  if (!done.ok()) {
    std::fprintf(stderr, "\ngeneration failed: %s\n", std::string(done.status().message()).c_str());
    return 1;
  }
  std::fprintf(
      stderr, "\n[%lld prompt + %lld generated tokens, %.1f tokens/s]\n",
      static_cast<long long>(done->prompt_tokens), static_cast<long long>(done->completion_tokens),
      done->decode_seconds > 0 ? (done->completion_tokens - 1) / done->decode_seconds : 0.0);
  return 0;
}
