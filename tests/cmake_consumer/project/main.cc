// Loads a model through the installed headers and library; prints its layer count and the
// greedy continuation of a short prompt run through the Scheduler (infer::core's two halves).
// Built with infer::serve, also hashes a password (serve_part.cc).
#include <cstdio>
#include <string>

#include "infer/model.h"
#include "infer/scheduler.h"

#ifdef INFER_CONSUMER_SERVE
bool ServePartWorks();
#endif

int main(int argc, char** argv) {
#ifdef INFER_CONSUMER_SERVE
  if (!ServePartWorks()) return 4;
#endif
  infer::ModelOptions options;
  options.path = argc > 1 ? argv[1] : "missing.gguf";
  auto model = infer::Model::Load(options);
  if (!model.ok()) {
    std::printf("error: %s\n", std::string(model.status().message()).c_str());
    return 3;
  }
  auto scheduler = infer::Scheduler::Create(**model, {});
  if (!scheduler.ok()) return 5;
  infer::Request request;
  request.prompt = (*model)->tokenizer().Encode("The capital of France is").value();
  request.sampling.temperature = 0;
  request.sampling.max_tokens = 4;
  auto handle = (*scheduler)->Submit(std::move(request));
  if (!handle.ok()) return 6;
  const infer::RequestResult& result = handle->Wait();
  if (!result.status.ok() || result.usage.completion_tokens != 4) return 7;
  std::printf("layers=%lld text=%s\n", static_cast<long long>((*model)->info().num_layers),
              result.text.c_str());
  return 0;
}
