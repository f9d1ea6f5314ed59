// infer-cli bench: prefill and decode tokens/s of one model, next to the machine's measured
// memory bandwidth, so decode speed reads as a share of its roofline; with --concurrency, the
// same through the Scheduler at several numbers of concurrent requests.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "cli/cluster_command.h"
#include "cli/commands.h"
#include "infer/grammar.h"
#include "infer/log.h"
#include "infer/scheduler.h"
#include "nlohmann/json.hpp"

namespace infer::cli {
namespace {

struct BenchFlags {
  std::string model;
  int threads = 0;
  std::string device = "cpu";
  std::string kv_cache_dtype = "auto";
  int prompt_tokens = 512;
  int gen_tokens = 128;
  int repetitions = 3;
  bool json = false;
  std::vector<int> concurrency;  // empty: single-stream only
  int shared_prefix = 0;         // leading prompt tokens all requests share
  int max_num_batched_tokens = 512;
  std::string json_schema_file;  // constrain every request to this JSON Schema
  std::shared_ptr<const Grammar> grammar;
  // One model over several local processes (--tensor-parallel-size, --pipeline-parallel-size).
  ClusterFlags cluster;
};

using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Ordinary (non-special) random tokens.
std::vector<TokenId> RandomTokens(const Tokenizer& tok, int n, std::mt19937& rng) {
  std::vector<TokenId> out;
  while (static_cast<int>(out.size()) < n) {
    const TokenId id = static_cast<TokenId>(rng() % static_cast<uint32_t>(tok.vocab_size()));
    if (!tok.IsSpecial(id)) out.push_back(id);
  }
  return out;
}

// Submits `prompts` at once and waits for all; fills one JSON row of figures.
absl::StatusOr<nlohmann::json> RunLevel(Scheduler& scheduler,
                                        const std::vector<std::vector<TokenId>>& prompts,
                                        const SamplingParams& params) {
  const SchedulerStats before = scheduler.stats();
  const Clock::time_point start = Clock::now();
  std::vector<RequestHandle> handles;
  for (const auto& prompt : prompts) {
    Request r;
    r.prompt = prompt;
    r.sampling = params;
    auto h = scheduler.Submit(std::move(r));
    if (!h.ok()) return h.status();
    handles.push_back(*h);
  }
  int64_t peak_blocks = 0;
  for (RequestHandle& h : handles) {
    while (!h.finished()) {
      peak_blocks = std::max(peak_blocks, scheduler.stats().kv_blocks_used);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  int64_t generated = 0;
  int64_t cached = 0;
  std::vector<double> ttft, per_request;
  for (RequestHandle& h : handles) {
    const RequestResult& r = h.Wait();
    if (r.finish_reason == FinishReason::kError) return r.status;
    generated += r.usage.completion_tokens;
    cached += r.usage.cached_prompt_tokens;
    ttft.push_back(r.usage.time_to_first_token);
    const auto& t = r.usage.token_times;
    if (t.size() > 1) per_request.push_back((t.size() - 1) / (t.back() - t.front()));
  }
  // Steady batched decode: tokens generated after every request had its first token, over that
  // window (the prefill of all prompts comes before it).
  double window_start = 0;
  double window_end = 0;
  for (RequestHandle& h : handles) {
    const auto& t = h.Wait().usage.token_times;
    if (t.empty()) continue;
    window_start = std::max(window_start, t.front());
    window_end = std::max(window_end, t.back());
  }
  int64_t in_window = 0;
  for (RequestHandle& h : handles) {
    for (double t : h.Wait().usage.token_times) in_window += t > window_start;
  }
  const double decode_rate =
      window_end > window_start ? in_window / (window_end - window_start) : 0.0;
  const SchedulerStats stats = scheduler.stats();
  double mean = 0;
  for (double v : per_request) mean += v / per_request.size();
  return nlohmann::json{
      {"concurrency", prompts.size()},
      {"generated_tokens_per_second", generated / wall},
      {"decode_tokens_per_second", decode_rate},
      {"per_request_decode_tokens_per_second", mean},
      {"ttft_p50_seconds", Percentile(ttft, 0.5)},
      {"ttft_p99_seconds", Percentile(ttft, 0.99)},
      {"kv_blocks_peak", peak_blocks},
      {"kv_blocks_total", stats.kv_blocks_total},
      {"cached_prompt_tokens", cached},
      {"wall_seconds", wall},
      // Where the step thread's time went at this level (SchedulerStats).
      {"steps", stats.steps_total - before.steps_total},
      {"step_plan_seconds", stats.step_plan_seconds - before.step_plan_seconds},
      {"step_forward_seconds", stats.step_forward_seconds - before.step_forward_seconds},
      {"step_sample_seconds", stats.step_sample_seconds - before.step_sample_seconds}};
}

// Scheduler figures at each concurrency level, and TTFT with and without a cached prefix.
absl::StatusOr<nlohmann::json> RunConcurrency(Model& model, const BenchFlags& f) {
  const ModelInfo& info = model.info();
  const int most = *std::max_element(f.concurrency.begin(), f.concurrency.end());
  SchedulerOptions options;
  options.max_num_seqs = most;
  options.max_num_batched_tokens = f.max_num_batched_tokens;
  options.kv_cache_dtype = KvCacheDTypeOf(f.kv_cache_dtype);
  // Room for every request at once (plus a partial block each), so the levels measure batching
  // rather than preemption.
  options.kv_cache_bytes = info.kv_bytes_per_token * static_cast<uint64_t>(most + 2) *
                           static_cast<uint64_t>(f.prompt_tokens + f.gen_tokens + 16);
  auto created = Scheduler::Create(model, options);
  if (!created.ok()) return created.status();
  std::unique_ptr<Scheduler> scheduler = std::move(*created);
  SamplingParams params;
  params.temperature = 0;
  params.ignore_eos = true;
  params.max_tokens = f.gen_tokens;
  params.grammar = f.grammar;
  std::mt19937 rng(99);
  const Tokenizer& tok = model.tokenizer();
  const std::vector<TokenId> prefix = RandomTokens(tok, f.shared_prefix, rng);
  auto make_prompts = [&](int n) {
    std::vector<std::vector<TokenId>> prompts;
    for (int i = 0; i < n; ++i) {
      std::vector<TokenId> p = prefix;
      for (TokenId t : RandomTokens(tok, f.prompt_tokens - f.shared_prefix, rng)) p.push_back(t);
      prompts.push_back(std::move(p));
    }
    return prompts;
  };
  nlohmann::json out;
  if (f.shared_prefix > 0) {
    // The first request computes the prefix; the second, with another suffix, finds it cached.
    auto first = RunLevel(*scheduler, make_prompts(1), params);
    if (!first.ok()) return first.status();
    auto second = RunLevel(*scheduler, make_prompts(1), params);
    if (!second.ok()) return second.status();
    const double a = (*first)["ttft_p50_seconds"];
    const double b = (*second)["ttft_p50_seconds"];
    out["prefix_cache"] = {{"shared_prefix_tokens", f.shared_prefix},
                           {"ttft_uncached_seconds", a},
                           {"ttft_cached_seconds", b},
                           {"cached_prompt_tokens", (*second)["cached_prompt_tokens"]},
                           {"ttft_ratio", b / a}};
  } else {
    auto warm = RunLevel(*scheduler, make_prompts(1), params);  // warm-up
    if (!warm.ok()) return warm.status();
  }
  out["levels"] = nlohmann::json::array();
  for (int c : f.concurrency) {
    auto row = RunLevel(*scheduler, make_prompts(c), params);
    if (!row.ok()) return row.status();
    out["levels"].push_back(std::move(*row));
  }
  return out;
}

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

int RunBench(BenchFlags f) {
  SetMinLogSeverity(LogSeverity::kWarning);
  if (!f.json_schema_file.empty()) {
    std::ifstream in(f.json_schema_file);
    if (!in) return Fail(absl::StrCat("--json-schema: cannot read ", f.json_schema_file));
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto start = Clock::now();
    absl::StatusOr<std::shared_ptr<const Grammar>> grammar = Grammar::FromJsonSchema(text);
    if (!grammar.ok()) {
      return Fail(
          absl::StrCat("--json-schema ", f.json_schema_file, ": ", grammar.status().message()));
    }
    std::fprintf(stderr, "infer-cli: %s compiled in %.2f ms\n", f.json_schema_file.c_str(),
                 1e3 * std::chrono::duration<double>(Clock::now() - start).count());
    f.grammar = *std::move(grammar);
  }
  auto group = LeaderCluster::Start(f.cluster, f.threads);
  if (!group.ok()) return Fail(absl::StrCat("cluster: ", group.status().message()));
  absl::StatusOr<std::string> path = ResolveModelPath(f.model);
  if (!path.ok()) return Fail(std::string(path.status().message()));
  auto loaded = LoadModel(*path, f.threads, 0, (*group)->cluster(), f.device);
  if (!loaded.ok()) return Fail(std::string(loaded.status().message()));
  Model& model = **loaded;
  const ModelInfo& info = model.info();
  if (f.prompt_tokens < 1 || f.gen_tokens < 2 ||
      f.prompt_tokens + f.gen_tokens > info.context_length) {
    return Fail("--prompt-tokens >= 1, --gen-tokens >= 2 and their sum within the context length");
  }
  if (f.shared_prefix < 0 || f.shared_prefix >= f.prompt_tokens) {
    return Fail("--shared-prefix must be in [0, --prompt-tokens)");
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
  params.grammar = f.grammar;
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
      {"file_type", info.file_type},
      {"threads", info.num_threads},
      {"cpu_kernels", info.cpu_kernels},
      {"cpu_model", info.cpu_model},
      {"prompt_tokens", f.prompt_tokens},
      {"gen_tokens", f.gen_tokens},
      {"prefill_tokens_per_second", best_prefill},
      {"decode_tokens_per_second", best_decode},
      {"weight_bytes_per_token", info.weight_bytes_per_token},
      {"memory_bandwidth_bytes_per_second", bandwidth},
      {"decode_roofline_fraction", roofline},
      {"json_schema", f.json_schema_file},
  };
  if (!f.concurrency.empty()) {
    auto batched = RunConcurrency(model, f);
    if (!batched.ok()) return Fail(std::string(batched.status().message()));
    out["scheduler"] = *batched;
    for (nlohmann::json& row : out["scheduler"]["levels"]) {
      const double decode = row["decode_tokens_per_second"];
      row["decode_speedup_over_single_stream"] = decode / best_decode;
      row["decode_fraction_of_prefill_rate"] = decode / best_prefill;
    }
  }
  if (f.json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("model    %s (%s)\n", info.path.c_str(), info.file_type.c_str());
    std::printf("cpu      %s, %s kernels, %d threads\n", info.cpu_model.c_str(),
                info.cpu_kernels.c_str(), info.num_threads);
    std::printf("prefill  %8.1f tokens/s  (%d-token prompt)\n", best_prefill, f.prompt_tokens);
    std::printf("decode   %8.1f tokens/s  (%d tokens%s%s)\n", best_decode, f.gen_tokens,
                f.grammar != nullptr ? ", constrained by " : "", f.json_schema_file.c_str());
    std::printf("memory   %8.2f GB/s read, decode reads %.1f MB/token = %.0f%% of the roofline\n",
                bandwidth / 1e9, info.weight_bytes_per_token / 1e6, 100 * roofline);
    if (out.contains("scheduler")) {
      const nlohmann::json& sch = out["scheduler"];
      if (sch.contains("prefix_cache")) {
        const nlohmann::json& pc = sch["prefix_cache"];
        std::printf("prefix   TTFT %.3f s uncached, %.3f s with %d cached tokens (%.0f%%)\n",
                    pc["ttft_uncached_seconds"].get<double>(),
                    pc["ttft_cached_seconds"].get<double>(), pc["cached_prompt_tokens"].get<int>(),
                    100 * pc["ttft_ratio"].get<double>());
      }
      std::printf("%6s %10s %11s %9s %14s %10s %10s %12s\n", "conc", "gen tok/s", "decode tok/s",
                  "x single", "per-req tok/s", "TTFT p50", "TTFT p99", "KV blocks");
      for (const nlohmann::json& row : sch["levels"]) {
        std::printf("%6d %10.1f %11.1f %9.2f %14.1f %9.3fs %9.3fs %5d/%-6d\n",
                    row["concurrency"].get<int>(), row["generated_tokens_per_second"].get<double>(),
                    row["decode_tokens_per_second"].get<double>(),
                    row["decode_speedup_over_single_stream"].get<double>(),
                    row["per_request_decode_tokens_per_second"].get<double>(),
                    row["ttft_p50_seconds"].get<double>(), row["ttft_p99_seconds"].get<double>(),
                    row["kv_blocks_peak"].get<int>(), row["kv_blocks_total"].get<int>());
      }
      for (const nlohmann::json& row : sch["levels"]) {
        const double plan = row["step_plan_seconds"], fwd = row["step_forward_seconds"],
                     sample = row["step_sample_seconds"], wall = row["wall_seconds"];
        std::printf(
            "%6d steps %5d: plan %5.1f%%  forward %5.1f%%  sample+deliver %5.1f%%  "
            "(of %.2f s wall)\n",
            row["concurrency"].get<int>(), row["steps"].get<int>(), 100 * plan / wall,
            100 * fwd / wall, 100 * sample / wall, wall);
      }
    }
  }
  return 0;
}

}  // namespace

Action RegisterBench(CLI::App& app) {
  auto f = std::make_shared<BenchFlags>();
  app.add_option("--model,-m", f->model, "GGUF file or Hugging Face folder (default: SmolLM2)");
  AddClusterFlags(app, f->cluster);
  app.add_option("--threads", f->threads, "Worker threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
  AddDeviceFlag(app, f->device);
  app.add_option("--prompt-tokens", f->prompt_tokens, "Prompt length");
  app.add_option("--gen-tokens", f->gen_tokens, "Generated tokens");
  app.add_option("--repetitions", f->repetitions, "Timed runs (best is reported)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", f->json, "Print JSON");
  app.add_option("--concurrency", f->concurrency,
                 "Also run this many concurrent requests through the Scheduler, per level "
                 "(e.g. 1,4,16,64)")
      ->delimiter(',')
      ->check(CLI::Range(1, 4096));
  app.add_option("--shared-prefix", f->shared_prefix,
                 "Leading prompt tokens every concurrent request shares (prefix cache)");
  app.add_option("--json-schema", f->json_schema_file,
                 "Constrain every request to the JSON Schema in this file (structured output's "
                 "cost: compare with a run without it)");
  app.add_option("--max-num-batched-tokens", f->max_num_batched_tokens,
                 "Scheduler: tokens per step")
      ->check(CLI::PositiveNumber);
  AddKvCacheDtypeFlag(app, f->kv_cache_dtype);
  return [f] { return RunBench(*f); };
}

}  // namespace infer::cli
