// The Scheduler on SmolLM2 Q4_1 (skipped unless INFER_SMOLLM2_GGUF names the file): batched
// requests give the tokens each gives alone. Labelled slow: it is left out of sanitizer runs,
// where the tiny-model tests in scheduler_test.cc cover the same code.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "infer/model.h"
#include "infer/scheduler.h"

namespace infer {
namespace {

std::vector<TokenId> Ids(const std::vector<SampledToken>& tokens) {
  std::vector<TokenId> ids;
  for (const SampledToken& t : tokens) ids.push_back(t.id);
  return ids;
}

// SmolLM2 Q4_1: 32 requests batched against each alone, first 32 tokens.
TEST(SmolLm2SchedulerTest, BatchedTokensMatchAlone) {
  const char* path = std::getenv("INFER_SMOLLM2_GGUF");
  if (path == nullptr || *path == '\0') {
    GTEST_SKIP() << "INFER_SMOLLM2_GGUF is not set (scripts/fetch_model.sh fetches the model)";
  }
  ModelOptions mo;
  mo.path = path;
  mo.num_threads = 2;
  auto model = Model::Load(mo);
  ASSERT_TRUE(model.ok()) << model.status();
  const char* topics[] = {"the sea", "a cat",     "winter", "trains", "bread", "the moon",
                          "a river", "computers", "music",  "snow",   "tea",   "a garden"};
  std::vector<std::vector<TokenId>> prompts;
  for (int i = 0; i < 32; ++i) {
    const std::string text = "<|im_start|>user\nWrite " + std::to_string(i % 4 + 1) +
                             " sentences about " + topics[i % 12] + ".<|im_end|>\n" +
                             "<|im_start|>assistant\n";
    prompts.push_back(*(*model)->tokenizer().Encode(text));
  }
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 32;
  p.ignore_eos = true;
  std::vector<std::vector<TokenId>> alone;
  for (const auto& prompt : prompts)
    alone.push_back(Ids((*model)->GenerateFromTokens(prompt, p)->tokens));
  SchedulerOptions so;
  so.kv_cache_bytes = 256ull << 20;
  auto scheduler = Scheduler::Create(**model, so);
  ASSERT_TRUE(scheduler.ok());
  std::vector<RequestHandle> handles;
  for (const auto& prompt : prompts) {
    Request r;
    r.prompt = prompt;
    r.sampling = p;
    handles.push_back(*(*scheduler)->Submit(r));
  }
  int same_tokens = 0;
  int same_requests = 0;
  for (size_t i = 0; i < handles.size(); ++i) {
    const std::vector<TokenId> got = Ids(handles[i].Wait().tokens);
    ASSERT_EQ(got.size(), 32u);
    int prefix = 0;
    while (prefix < 32 && got[prefix] == alone[i][prefix]) ++prefix;
    same_tokens += prefix;
    same_requests += prefix == 32;
  }
  std::printf("SmolLM2: %d/32 requests identical, %d/1024 tokens before any divergence\n",
              same_requests, same_tokens);
  EXPECT_GE(same_requests, 31);  // >= 95% of 32
}

}  // namespace
}  // namespace infer
