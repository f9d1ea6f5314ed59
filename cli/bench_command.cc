// infer-cli bench: prefill and decode tokens/s of one model, next to the machine's measured
// memory bandwidth, so decode speed reads as a share of its roofline.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "nlohmann/json.hpp"

namespace infer::cli {
namespace {

struct BenchFlags {
  std::string model;
  int threads = 0;
  int prompt_tokens = 512;
  int gen_tokens = 128;
  int repetitions = 3;
  bool json = false;
};

// Read bandwidth in bytes/s: `threads` threads sum disjoint parts of a 512 MiB buffer (far
// beyond any cache); the best of three passes.
double MeasureReadBandwidth(int threads) {
  const size_t bytes = size_t{512} << 20;
  const size_t words = bytes / sizeof(uint64_t);
  std::vector<uint64_t> buffer(words);
  for (size_t i = 0; i < words; i += 512) buffer[i] = i;  // touch every page
  std::vector<uint64_t> sums(static_cast<size_t>(threads));
  double best = 0;
  for (int pass = 0; pass < 3; ++pass) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const size_t begin = words * t / threads;
        const size_t end = words * (t + 1) / threads;
        uint64_t a = 0, b = 0, c = 0, d = 0;
        for (size_t i = begin; i + 4 <= end; i += 4) {
          a += buffer[i];
          b += buffer[i + 1];
          c += buffer[i + 2];
          d += buffer[i + 3];
        }
        sums[t] = a + b + c + d;
      });
    }
    for (auto& th : pool) th.join();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(bytes) / s);
  }
  volatile uint64_t sink = 0;
  for (uint64_t v : sums) sink = sink + v;
  return best;
}

int RunBench(const BenchFlags& f) {
  auto loaded = LoadModel(ResolveModelPath(f.model), f.threads);
  if (!loaded.ok()) return Fail(std::string(loaded.status().message()));
  Model& model = **loaded;
  const ModelInfo& info = model.info();
  if (f.prompt_tokens < 1 || f.gen_tokens < 2 ||
      f.prompt_tokens + f.gen_tokens > info.context_length) {
    return Fail("--prompt-tokens >= 1, --gen-tokens >= 2 and their sum within the context length");
  }
  // Ordinary (non-special) tokens, fixed seed: every run measures the same work.
  std::mt19937 rng(1234);
  std::vector<TokenId> prompt;
  const Tokenizer& tok = model.tokenizer();
  while (static_cast<int>(prompt.size()) < f.prompt_tokens) {
    const TokenId id = static_cast<TokenId>(rng() % static_cast<uint32_t>(tok.vocab_size()));
    if (!tok.IsSpecial(id)) prompt.push_back(id);
  }
  SamplingParams params;
  params.temperature = 0;
  params.ignore_eos = true;
  params.max_tokens = f.gen_tokens;
  double best_prefill = 0, best_decode = 0;
  for (int rep = 0; rep <= f.repetitions; ++rep) {  // the first run warms caches and pages
    auto done = model.GenerateFromTokens(prompt, params);
    if (!done.ok()) return Fail(std::string(done.status().message()));
    if (rep == 0) continue;
    best_prefill = std::max(best_prefill, done->prompt_tokens / done->prefill_seconds);
    best_decode = std::max(best_decode, (done->completion_tokens - 1) / done->decode_seconds);
  }
  const double bandwidth = MeasureReadBandwidth(info.num_threads);
  const double roofline =
      static_cast<double>(info.weight_bytes_per_token) * best_decode / bandwidth;
  nlohmann::json out = {
      {"model", info.path},
      {"threads", info.num_threads},
      {"cpu_kernels", info.cpu_kernels},
      {"prompt_tokens", f.prompt_tokens},
      {"gen_tokens", f.gen_tokens},
      {"prefill_tokens_per_second", best_prefill},
      {"decode_tokens_per_second", best_decode},
      {"weight_bytes_per_token", info.weight_bytes_per_token},
      {"memory_bandwidth_bytes_per_second", bandwidth},
      {"decode_roofline_fraction", roofline},
  };
  if (f.json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("prefill  %8.1f tokens/s  (%d-token prompt)\n", best_prefill, f.prompt_tokens);
    std::printf("decode   %8.1f tokens/s  (%d tokens)\n", best_decode, f.gen_tokens);
    std::printf("memory   %8.2f GB/s read, decode reads %.1f MB/token = %.0f%% of the roofline\n",
                bandwidth / 1e9, info.weight_bytes_per_token / 1e6, 100 * roofline);
  }
  return 0;
}

}  // namespace

Action RegisterBench(CLI::App& app) {
  auto f = std::make_shared<BenchFlags>();
  app.add_option("--model,-m", f->model, "GGUF file or Hugging Face folder (default: SmolLM2)");
  app.add_option("--threads", f->threads, "Worker threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--prompt-tokens", f->prompt_tokens, "Prompt length");
  app.add_option("--gen-tokens", f->gen_tokens, "Generated tokens");
  app.add_option("--repetitions", f->repetitions, "Timed runs (best is reported)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", f->json, "Print JSON");
  return [f] { return RunBench(*f); };
}

}  // namespace infer::cli
