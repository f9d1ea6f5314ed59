// The forward pass on a GPU, on a Llama-3-8B-shaped model with random BF16 weights held in
// memory (no file: the shapes are the real ones, the values do not matter for speed).
//   decode/1:    one sequence, one token per step after a 512-token prompt: tokens/s and its
//                share of the HBM roofline (weight bytes per token x tokens/s / the bandwidth
//                measured here by a device-to-device copy).
//   decode/64:   64 sequences at depth 512, one token each per step: aggregate tokens/s.
//   prefill/8x512: one step of 8 prompts of 512 tokens: tokens/s.
// Skips with the reason where no CUDA device is present.
#include <cuda_runtime_api.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "libinfer/backend/backend.h"
#include "libinfer/model/llama.h"
#include "libinfer/model/weight_source.h"

namespace infer {
namespace {

ModelConfig Llama3_8B() {
  ModelConfig c;
  c.architecture = "llama";
  c.name = "llama-3-8b-shaped (random BF16)";
  c.vocab_size = 128256;
  c.hidden_size = 4096;
  c.intermediate_size = 14336;
  c.num_layers = 32;
  c.num_heads = 32;
  c.num_kv_heads = 8;
  c.head_dim = 128;
  c.context_length = 8192;
  c.rope_theta = 500000.0f;
  c.rope_dim = 128;
  c.rope_interleaved = false;
  return c;
}

// Every layer's matrices are views of one set of random buffers (the device gets a copy per
// layer, as from a real file); the embedding and the output head share one.
class RandomBf16Weights final : public WeightSource {
 public:
  explicit RandomBf16Weights(const ModelConfig& c) {
    const int64_t h = c.hidden_size, ff = c.intermediate_size;
    const int64_t q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
    const auto matrix = [&](const std::string& role, int64_t rows, int64_t cols) {
      std::vector<uint16_t>& buf = buffers_[role];
      buf.resize(static_cast<size_t>(rows * cols));
      uint64_t s = 0x9E3779B97F4A7C15ull ^ std::hash<std::string>{}(role);
      for (uint16_t& v : buf) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        // A BF16 of magnitude ~1/64 with a random sign and mantissa.
        v = static_cast<uint16_t>(0x3C80 | (s & 0x807F));
      }
      shapes_[role] = {rows, cols};
    };
    matrix("embd", c.vocab_size, h);
    matrix("attn_q", q, h);
    matrix("attn_k", kv, h);
    matrix("attn_v", kv, h);
    matrix("attn_output", h, q);
    matrix("ffn_gate", ff, h);
    matrix("ffn_up", ff, h);
    matrix("ffn_down", h, ff);
    norm_.assign(static_cast<size_t>(h), 1.0f);
    Add("token_embd.weight", "embd");
    Add("output.weight", "embd");
    AddNorm("output_norm.weight");
    for (int64_t l = 0; l < c.num_layers; ++l) {
      const std::string p = absl::StrCat("blk.", l, ".");
      for (const char* role :
           {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}) {
        Add(p + role + ".weight", role);
      }
      AddNorm(p + "attn_norm.weight");
      AddNorm(p + "ffn_norm.weight");
    }
  }
  const TensorView* Find(std::string_view name) const override {
    auto it = views_.find(std::string(name));
    return it == views_.end() ? nullptr : &it->second;
  }
  std::vector<const TensorView*> All() const override {
    std::vector<const TensorView*> all;
    for (const auto& [name, v] : views_) all.push_back(&v);
    return all;
  }
  std::string_view format() const override { return "memory"; }

 private:
  void Add(const std::string& name, const std::string& role) {
    const std::vector<uint16_t>& buf = buffers_.at(role);
    views_[name] = {name, DType::kBF16, shapes_.at(role),
                    reinterpret_cast<const uint8_t*>(buf.data()), buf.size() * 2};
  }
  void AddNorm(const std::string& name) {
    views_[name] = {name,
                    DType::kF32,
                    {static_cast<int64_t>(norm_.size())},
                    reinterpret_cast<const uint8_t*>(norm_.data()),
                    norm_.size() * 4};
  }
  std::map<std::string, std::vector<uint16_t>> buffers_;
  std::map<std::string, std::vector<int64_t>> shapes_;
  std::vector<float> norm_;
  std::map<std::string, TensorView> views_;
};

// Device-to-device copy bandwidth (bytes read + written per second) over 2 GiB, best of 5.
double MeasureBandwidth() {
  const size_t bytes = size_t{2} << 30;
  void* a = nullptr;
  void* b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) return 0;
  double best = 0;
  for (int i = 0; i < 6; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaDeviceSynchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (i > 0) best = std::max(best, 2.0 * bytes / s);
  }
  cudaFree(a);
  cudaFree(b);
  return best;
}

struct Setup {
  std::string error;
  ModelConfig config = Llama3_8B();
  std::unique_ptr<RandomBf16Weights> weights;
  std::unique_ptr<LlamaModel> model;
  double bandwidth = 0;
};

Setup& Shared() {
  static Setup* s = [] {
    auto* s = new Setup;
    auto cuda = CreateCudaBackend(0);
    if (!cuda.ok()) {
      s->error = std::string(cuda.status().message());
      return s;
    }
    benchmark::AddCustomContext("device", (*cuda)->name());
    s->bandwidth = MeasureBandwidth();
    benchmark::AddCustomContext("device_copy_bandwidth_GBps",
                                absl::StrCat(static_cast<int>(s->bandwidth / 1e9)));
    s->weights = std::make_unique<RandomBf16Weights>(s->config);
    LlamaSlice slice;
    slice.layout.end_layer = s->config.num_layers;
    auto model =
        LlamaModel::Create(s->config, LlamaFamily(), *s->weights, slice, 1, *std::move(cuda));
    if (!model.ok()) {
      s->error = std::string(model.status().message());
      return s;
    }
    s->model = *std::move(model);
    if (absl::Status st = s->model->Prepare(nullptr); !st.ok()) s->error = st.ToString();
    return s;
  }();
  return *s;
}

// `seqs` sequences with prompts of `prompt` tokens in a fresh cache; then `steps` timed decode
// steps of one token each (or, with steps == 0, the prompts are the timed step).
void RunModel(benchmark::State& state, int64_t seqs, int64_t prompt, bool decode) {
  Setup& s = Shared();
  if (!s.error.empty()) {
    state.SkipWithError(s.error.c_str());
    return;
  }
  const int64_t block = 16;
  const int64_t per_seq = BlocksFor(prompt + 256, block);
  auto cache = s.model->CreateKvCache(block, seqs * per_seq, kHostKvDType);
  if (!cache.ok()) {
    state.SkipWithError(cache.status().ToString().c_str());
    return;
  }
  std::vector<std::vector<int32_t>> tables(static_cast<size_t>(seqs));
  for (int64_t i = 0; i < seqs; ++i) {
    for (int64_t b = 0; b < per_seq; ++b)
      tables[i].push_back(static_cast<int32_t>(i * per_seq + b));
  }
  ForwardBatch prefill;
  for (int64_t i = 0; i < seqs; ++i) {
    for (int64_t t = 0; t < prompt; ++t)
      prefill.tokens.push_back(static_cast<int32_t>((t * 7 + i) % 1000));
    prefill.sequences.push_back({tables[i], 0, prompt, 1});
  }
  std::vector<float> out;
  const auto fail = [&](const absl::Status& st) { state.SkipWithError(st.ToString().c_str()); };
  if (!decode) {
    for (auto _ : state) {
      if (absl::Status st = s.model->Forward(prefill, **cache, {}, out); !st.ok()) return fail(st);
    }
    state.counters["tokens_per_s"] = benchmark::Counter(
        static_cast<double>(seqs * prompt), benchmark::Counter::kIsIterationInvariantRate);
    return;
  }
  // The prompts one sequence at a time (as the Scheduler's chunks would), untimed.
  for (int64_t i = 0; i < seqs; ++i) {
    ForwardBatch one;
    one.tokens.assign(prefill.tokens.begin() + i * prompt,
                      prefill.tokens.begin() + (i + 1) * prompt);
    one.sequences.push_back({tables[i], 0, prompt, 1});
    if (absl::Status st = s.model->Forward(one, **cache, {}, out); !st.ok()) return fail(st);
  }
  int64_t pos = prompt;
  ForwardBatch step;
  for (auto _ : state) {
    if (pos >= prompt + 255) {  // keep within the blocks reserved: restart at the same depth
      pos = prompt;
    }
    step.Clear();
    for (int64_t i = 0; i < seqs; ++i) {
      step.tokens.push_back(static_cast<int32_t>(pos % 1000));
      step.sequences.push_back({tables[i], pos, 1, 1});
    }
    if (absl::Status st = s.model->Forward(step, **cache, {}, out); !st.ok()) return fail(st);
    ++pos;
  }
  state.counters["tokens_per_s"] =
      benchmark::Counter(static_cast<double>(seqs), benchmark::Counter::kIsIterationInvariantRate);
  if (seqs == 1 && s.bandwidth > 0) {
    // Share of the roofline: the weight bytes one step must read at the measured bandwidth.
    const double ideal_s = static_cast<double>(s.model->weight_bytes_per_token()) / s.bandwidth;
    state.counters["roofline_share"] =
        benchmark::Counter(ideal_s, benchmark::Counter::kIsIterationInvariantRate);
  }
}

void BM_Decode(benchmark::State& state) { RunModel(state, state.range(0), 512, true); }
BENCHMARK(BM_Decode)->Arg(1)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

void BM_Prefill8x512(benchmark::State& state) { RunModel(state, 8, 512, false); }
BENCHMARK(BM_Prefill8x512)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace
}  // namespace infer

BENCHMARK_MAIN();
