// The whole forward pass on each backend against the CPU's: the runner built on an explicitly
// given CPU backend (any machine), and on CUDA where a GPU is present (skipped with the reason
// otherwise): a tiny generated model's logits over a batch of prefill chunks and decode rows, and
// SmolLM2's greedy tokens on the reference prompts.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "infer/model.h"
#include "libinfer/backend/backend.h"
#include "libinfer/model/llama.h"
#include "libinfer/model/weight_source.h"
#include "tests/engine/tiny_model.h"

namespace infer {
namespace {

// The tiny model's file, written once per process and removed at exit.
struct TinyFile {
  TinyFile()
      : path((std::filesystem::temp_directory_path() /
              ("device-runner-tiny-" + std::to_string(getpid()) + ".gguf"))
                 .string()) {
    testing::TinyModelShape shape;
    shape.hidden = 128;
    shape.heads = 4;
    shape.kv_heads = 2;
    shape.ff = 256;
    shape.layers = 3;
    testing::WriteTinyModel(path, shape, 5);
  }
  ~TinyFile() { std::filesystem::remove(path); }
  std::string path;
};

const std::string& TinyModelPath() {
  static const TinyFile file;
  return file.path;
}

// Logits of three steps over two sequences: both prompts (13 and 40 tokens, every position's
// logits for the first), then two decode steps of both.
std::vector<std::vector<float>> RunSteps(ModelRunner& runner, DType kv_dtype = kHostKvDType) {
  const int64_t block_size = 16;
  auto cache = runner.CreateKvCache(block_size, 16, kv_dtype);
  EXPECT_TRUE(cache.ok()) << cache.status();
  if (!cache.ok()) return {};
  const std::vector<int32_t> table_a = {3, 9, 1, 12};
  const std::vector<int32_t> table_b = {0, 7, 5, 2, 14, 8};
  std::vector<std::vector<float>> all;
  ForwardBatch batch;
  for (int64_t t = 0; t < 13; ++t) batch.tokens.push_back(static_cast<int32_t>((t * 37) % 257));
  for (int64_t t = 0; t < 40; ++t) batch.tokens.push_back(static_cast<int32_t>((t * 11 + 5) % 257));
  batch.sequences.push_back({table_a, 0, 13, 13});
  batch.sequences.push_back({table_b, 0, 40, 1});
  for (int step = 0; step < 3; ++step) {
    std::vector<float> out;
    absl::Status s = runner.Forward(batch, **cache, {}, out);
    EXPECT_TRUE(s.ok()) << s;
    if (!s.ok()) return {};
    all.push_back(out);
    const int64_t start_a = batch.sequences[0].start_pos + batch.sequences[0].num_tokens;
    const int64_t start_b = batch.sequences[1].start_pos + batch.sequences[1].num_tokens;
    batch.tokens = {static_cast<int32_t>(100 + step), static_cast<int32_t>(200 + step)};
    batch.sequences = {{table_a, start_a, 1, 1}, {table_b, start_b, 1, 1}};
  }
  return all;
}

absl::StatusOr<std::unique_ptr<LlamaModel>> TinyRunner(const LoadedModelFiles& files,
                                                       std::unique_ptr<Backend> backend) {
  LlamaSlice slice;
  slice.layout.end_layer = files.config.num_layers;
  return LlamaModel::Create(files.config, LlamaFamily(), *files.weights, slice, 1,
                            std::move(backend));
}

TEST(DeviceRunnerTest, AnExplicitCpuBackendGivesTheDefaultRunnersBits) {
  auto files = OpenModelFiles(TinyModelPath());
  ASSERT_TRUE(files.ok()) << files.status();
  auto plain = TinyRunner(*files, nullptr);
  auto given = TinyRunner(*files, CreateCpuBackend(2));
  ASSERT_TRUE(plain.ok() && given.ok());
  EXPECT_EQ((*given)->backend().name(), "cpu (2 threads)");
  EXPECT_FALSE((*given)->device_memory().has_value());
  const auto a = RunSteps(**plain);
  const auto b = RunSteps(**given);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a, b);
}

TEST(DeviceRunnerTest, ACacheFromAnotherBackendIsRefused) {
  auto files = OpenModelFiles(TinyModelPath());
  ASSERT_TRUE(files.ok()) << files.status();
  auto one = TinyRunner(*files, nullptr);
  auto other = TinyRunner(*files, nullptr);
  ASSERT_TRUE(one.ok() && other.ok());
  auto cache = (*other)->CreateKvCache(16, 4, kHostKvDType);
  ASSERT_TRUE(cache.ok());
  ForwardBatch batch;
  batch.tokens = {1, 2};
  const std::vector<int32_t> table = {0};
  batch.sequences.push_back({table, 0, 2, 1});
  std::vector<float> out;
  EXPECT_EQ((*one)->Forward(batch, **cache, {}, out).code(), absl::StatusCode::kInvalidArgument);
}

// An F16 KV cache rounds K and V: the logits stay within 1% of the F32 cache's, and the greedy
// token agrees wherever the F32 cache's top two are not a near-tie.
TEST(DeviceRunnerTest, AnF16CacheStaysCloseToTheF32Caches) {
  auto files = OpenModelFiles(TinyModelPath());
  ASSERT_TRUE(files.ok()) << files.status();
  auto runner = TinyRunner(*files, nullptr);
  ASSERT_TRUE(runner.ok());
  const auto want = RunSteps(**runner, DType::kF32);
  const auto got = RunSteps(**runner, DType::kF16);
  ASSERT_EQ(got.size(), want.size());
  const int64_t vocab = files->config.vocab_size;
  for (size_t step = 0; step < want.size(); ++step) {
    ASSERT_EQ(got[step].size(), want[step].size());
    EXPECT_NE(got[step], want[step]) << "the F16 cache changed nothing";
    for (size_t row = 0; row < want[step].size() / vocab; ++row) {
      const float* w = want[step].data() + row * vocab;
      const float* g = got[step].data() + row * vocab;
      float scale = 0;
      for (int64_t i = 0; i < vocab; ++i) scale = std::max(scale, std::fabs(w[i]));
      std::vector<float> sorted(w, w + vocab);
      std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<>());
      for (int64_t i = 0; i < vocab; ++i) {
        ASSERT_NEAR(g[i], w[i], 0.01f * scale) << "step " << step << " row " << row << " " << i;
      }
      if (sorted[0] - sorted[1] > 0.02f * scale) {
        EXPECT_EQ(std::max_element(g, g + vocab) - g, std::max_element(w, w + vocab) - w);
      }
    }
  }
}

// F32 weights: the GPU accumulates in float as the CPU does, in another order.
TEST(DeviceRunnerTest, CudaMatchesTheCpuOnATinyModel) {
  auto cuda = CreateCudaBackend(0);
  if (!cuda.ok()) GTEST_SKIP() << "no CUDA backend here: " << cuda.status().message();
  auto files = OpenModelFiles(TinyModelPath());
  ASSERT_TRUE(files.ok()) << files.status();
  auto cpu_runner = TinyRunner(*files, nullptr);
  auto gpu_runner = TinyRunner(*files, *std::move(cuda));
  ASSERT_TRUE(cpu_runner.ok() && gpu_runner.ok()) << gpu_runner.status();
  ASSERT_TRUE((*gpu_runner)->Prepare(nullptr).ok());
  ASSERT_TRUE((*gpu_runner)->device_memory().has_value());
  const auto want = RunSteps(**cpu_runner);
  const auto got = RunSteps(**gpu_runner);
  ASSERT_EQ(got.size(), want.size());
  const int64_t vocab = files->config.vocab_size;
  for (size_t step = 0; step < want.size(); ++step) {
    ASSERT_EQ(got[step].size(), want[step].size());
    for (size_t i = 0; i < want[step].size(); ++i) {
      ASSERT_NEAR(got[step][i], want[step][i], 1e-3f * (1 + std::fabs(want[step][i])))
          << "step " << step << " logit " << i;
    }
    for (size_t row = 0; row < want[step].size() / vocab; ++row) {
      const auto argmax = [&](const std::vector<float>& v) {
        return std::max_element(v.begin() + row * vocab, v.begin() + (row + 1) * vocab) - v.begin();
      };
      EXPECT_EQ(argmax(got[step]), argmax(want[step])) << "step " << step << " row " << row;
    }
  }
}

// The reference prompts (as the bindings' tests use them): greedy tokens on the GPU equal the
// CPU's, except where the CPU's top two logits are a near-tie (named with their gap).
TEST(DeviceRunnerTest, CudaGreedyTokensOfSmolLm2EqualTheCpus) {
  const char* path = std::getenv("INFER_SMOLLM2_GGUF");
  if (path == nullptr || !std::filesystem::exists(path)) {
    GTEST_SKIP() << "INFER_SMOLLM2_GGUF is not set (scripts/fetch_model.sh fetches the model)";
  }
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device here";
  ModelOptions options;
  options.path = path;
  options.num_threads = 2;
  auto cpu = Model::Load(options);
  options.device = "cuda";
  auto gpu = Model::Load(options);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  EXPECT_NE((*gpu)->info().device.find("cuda:0"), std::string::npos) << (*gpu)->info().device;
  const std::vector<std::string> prompts = {
      "<|im_start|>user\nWhat is the capital of France? Answer in one paragraph.<|im_end|>\n"
      "<|im_start|>assistant\n",
      "<|im_start|>user\nWrite a short poem about the sea.<|im_end|>\n<|im_start|>assistant\n",
      "The old lighthouse stood at the edge",
      "def fibonacci(n):",
  };
  SamplingParams params;
  params.temperature = 0;
  params.max_tokens = 48;
  params.ignore_eos = true;
  for (const std::string& prompt : prompts) {
    auto a = (*cpu)->Generate(prompt, params);
    auto b = (*gpu)->Generate(prompt, params);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status() << " / " << b.status();
    size_t i = 0;
    while (i < a->tokens.size() && i < b->tokens.size() && a->tokens[i].id == b->tokens[i].id) ++i;
    if (i == a->tokens.size()) continue;
    // Where they part, the CPU's logits of the two tokens must be a near-tie.
    auto ids = (*cpu)->tokenizer().Encode(prompt, {});
    ASSERT_TRUE(ids.ok());
    for (size_t k = 0; k < i; ++k) ids->push_back(a->tokens[k].id);
    auto logits = (*cpu)->ComputeLogits(*ids);
    ASSERT_TRUE(logits.ok()) << logits.status();
    const int64_t vocab = (*cpu)->info().vocab_size;
    const float* last = logits->data() + (ids->size() - 1) * vocab;
    const float gap = std::fabs(last[a->tokens[i].id] - last[b->tokens[i].id]);
    EXPECT_LT(gap, 0.05f) << "prompt '" << prompt << "': token " << i << " is " << a->tokens[i].id
                          << " on the CPU, " << b->tokens[i].id << " on the GPU, logit gap " << gap;
    std::printf("prompt '%.30s...': tokens part at %zu (near-tie, gap %.4f)\n", prompt.c_str(), i,
                gap);
  }
}

}  // namespace
}  // namespace infer
