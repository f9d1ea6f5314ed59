// infer-cli generate: stream a completion to stdout, or print one JSON object with --json.
#include <cstdio>
#include <memory>
#include <vector>

#include "cli/commands.h"
#include "nlohmann/json.hpp"

namespace infer::cli {
namespace {

struct GenerateFlags {
  std::string model;
  std::string prompt;
  int max_tokens = 256;
  float temperature = 0.8f;
  float top_p = 0.95f;
  int top_k = 40;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  int64_t seed = -1;
  int threads = 0;
  std::string device = "cpu";
  bool json = false;
  bool ignore_eos = false;
  bool chat = false;
  std::string system;
};

int RunGenerate(const GenerateFlags& f) {
  absl::StatusOr<std::string> path = ResolveModelPath(f.model);
  if (!path.ok()) return Fail(std::string(path.status().message()));
  auto model = LoadModel(*path, f.threads, 0, nullptr, f.device);
  if (!model.ok()) return Fail(std::string(model.status().message()));
  const uint64_t rss_after_load = ProcStatusBytes("VmRSS");
  SamplingParams params;
  params.max_tokens = f.max_tokens;
  params.temperature = f.temperature;
  params.top_p = f.top_p;
  params.top_k = f.top_k;
  params.min_p = f.min_p;
  params.repetition_penalty = f.repetition_penalty;
  params.ignore_eos = f.ignore_eos;
  if (f.seed >= 0) params.seed = static_cast<uint64_t>(f.seed);
  TokenCallback stream;
  if (!f.json) {
    stream = [](const TokenEvent& e) {
      std::fwrite(e.text.data(), 1, e.text.size(), stdout);
      std::fflush(stdout);
      return true;
    };
  }
  absl::StatusOr<Completion> done;
  if (f.chat) {
    // The prompt is the user's turn, rendered with the model's chat template as the server
    // renders /v1/chat/completions.
    std::vector<ChatMessage> messages;
    if (!f.system.empty()) messages.emplace_back("system", f.system);
    messages.emplace_back("user", f.prompt);
    done = (*model)->Generate(messages, ChatOptions(), params, stream);
  } else {
    done = (*model)->Generate(f.prompt, params, stream);
  }
  if (!done.ok()) return Fail(std::string(done.status().message()));
  const Completion& c = *done;
  if (!f.json) {
    std::fputc('\n', stdout);
    return 0;
  }
  nlohmann::json out;
  out["text"] = c.text;
  std::vector<int32_t> ids;
  for (const SampledToken& t : c.tokens) ids.push_back(t.id);
  out["token_ids"] = ids;
  out["prompt_token_ids"] = c.prompt_token_ids;
  out["prompt_tokens"] = c.prompt_tokens;
  out["completion_tokens"] = c.completion_tokens;
  out["finish_reason"] = FinishReasonName(c.finish_reason);
  out["prefill_tokens_per_second"] =
      c.prefill_seconds > 0 ? static_cast<double>(c.prompt_tokens) / c.prefill_seconds : 0.0;
  // The first generated token comes from the prefill's logits; decode produced the rest.
  out["decode_tokens_per_second"] =
      c.decode_seconds > 0 && c.completion_tokens > 1
          ? static_cast<double>(c.completion_tokens - 1) / c.decode_seconds
          : 0.0;
  out["rss_after_load_bytes"] = rss_after_load;
  out["peak_rss_bytes"] = ProcStatusBytes("VmHWM");
  std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return 0;
}

}  // namespace

Action RegisterGenerate(CLI::App& app) {
  auto f = std::make_shared<GenerateFlags>();
  app.add_option("--model,-m", f->model, "GGUF file or Hugging Face folder (default: SmolLM2)");
  app.add_option("--prompt,-p", f->prompt, "Prompt text")->required();
  app.add_option("--max-tokens,-n", f->max_tokens, "Tokens to generate at most")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--temperature,-t", f->temperature, "0 = greedy")->check(CLI::NonNegativeNumber);
  app.add_option("--top-p", f->top_p, "Nucleus sampling mass in (0, 1]");
  app.add_option("--top-k", f->top_k, "Keep the k most likely tokens (0 = all)");
  app.add_option("--min-p", f->min_p, "Drop tokens below min-p x the top probability");
  app.add_option("--repetition-penalty", f->repetition_penalty, "1 = off");
  app.add_option("--seed", f->seed, "Random seed (same seed, same text)");
  app.add_option("--threads", f->threads, "Worker threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
  AddDeviceFlag(app, f->device);
  app.add_flag("--ignore-eos", f->ignore_eos, "Keep going past end-of-generation tokens");
  app.add_flag("--json", f->json, "Print one JSON object instead of streaming text");
  app.add_flag("--chat", f->chat,
               "Send the prompt as a user message through the model's chat template");
  app.add_option("--system", f->system, "With --chat: a system message before the prompt");
  return [f] {
    if (!f->system.empty() && !f->chat) return Fail("--system needs --chat");
    return RunGenerate(*f);
  };
}

}  // namespace infer::cli
